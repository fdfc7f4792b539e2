package gateway

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// Input rules for what people see: user and room names are identifiers for
// people, so two that render alike must be the same string and none may
// reorder or hide its own text. Message bodies are not identifiers and keep
// their own, looser rules (checkText, send.go): bidi text is legitimate there.

// nameProfile is the PRECIS FreeformClass (RFC 8264) with NFC: letters of
// every script, digits, punctuation, symbols and emoji, and spaces are
// allowed; control characters, bidi controls, other default-ignorable
// (invisible) code points such as U+200B or U+00AD, and unassigned code
// points are not. Not precis.Nickname: it applies NFKC and would turn
// "ﬁ" into "fi" or a full-width name into ASCII behind the user's back.
var nameProfile = precis.NewFreeform(precis.Norm(norm.NFC), precis.DisallowEmpty)

// cleanName is a user or room name as stored: NFC, every kind of space a
// plain space, runs of spaces collapsed, trimmed; or a 400 naming field.
// The error for control and bidi characters comes first and says so, since
// that is what a spoofed name ("sec\u202Egnp.exe") carries.
func cleanName(field, s string, maxRunes int) (string, *apiError) {
	if !utf8.ValidString(s) {
		return "", badRequest(field + " must be valid UTF-8")
	}
	if hasControl(s) {
		return "", badRequest(field + " must not contain control or bidirectional formatting characters")
	}
	s = strings.Join(strings.Fields(norm.NFC.String(s)), " ")
	if s == "" || utf8.RuneCountInString(s) > maxRunes {
		return "", badRequest(fmt.Sprintf("%s must be 1 to %d characters", field, maxRunes))
	}
	if _, err := nameProfile.String(withoutEmojiJoiners(s)); err != nil {
		return "", badRequest(field + " must not contain invisible or unassigned characters")
	}
	return s, nil
}

// hasControl reports a control character (Cc, NUL included) or a bidi
// formatting character (the Unicode Bidi_Control property: U+061C,
// U+200E-200F, U+202A-202E, U+2066-2069), the ones that make text display
// in another order than it is stored.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Bidi_Control, r)
	})
}

// withoutEmojiJoiners drops, for the PRECIS check only, the two invisible
// code points emoji are built with: the variation selectors U+FE0E/U+FE0F
// after a symbol or a keycap base ("❤️", "1️⃣") and U+200D between two
// symbols ("👩‍💻"). PRECIS disallows both everywhere; anywhere else they
// stay disallowed, so "A\uFE0Fnn" still cannot pass for "Ann".
func withoutEmojiJoiners(s string) string {
	var b strings.Builder
	var prev rune
	for i, r := range s {
		switch {
		case (r == '\uFE0E' || r == '\uFE0F') && (emojiBase(prev) || strings.ContainsRune("0123456789#*", prev)):
			continue // prev stays the base, so a ZWJ may follow
		case r == '\u200D' && emojiBase(prev):
			if next, _ := utf8.DecodeRuneInString(s[i+len("\u200D"):]); emojiBase(next) {
				continue
			}
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// emojiBase: pictographs are So (other symbols); skin-tone modifiers are Sk.
func emojiBase(r rune) bool { return unicode.In(r, unicode.So, unicode.Sk) }

// checkEmailChars refuses what must never be part of an address: control
// characters (NUL included, which Postgres refuses with a 22021 that used
// to surface as 503) and bidi controls.
func checkEmailChars(email string) *apiError {
	if !utf8.ValidString(email) || hasControl(email) {
		return badRequest("email must not contain control or bidirectional formatting characters")
	}
	return nil
}

// shorten cuts s for an error message: a key or a header may be most of a
// 64 KiB request.
func shorten(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
