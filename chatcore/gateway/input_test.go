package gateway

import (
	"net/http"
	"strings"
	"testing"
)

// bidiControls are every code point with the Unicode Bidi_Control property;
// each must be refused in a name on its own.
var bidiControls = []rune{'\u061C', '\u200E', '\u200F', '\u202A', '\u202B', '\u202C', '\u202D', '\u202E',
	'\u2066', '\u2067', '\u2068', '\u2069'}

func TestCleanNameAccepts(t *testing.T) {
	for in, want := range map[string]string{
		"Ann":                 "Ann",
		"José":                "José",
		"Jose\u0301":          "José", // NFC
		"  Ann \u00a0  Lee  ": "Ann Lee",
		"שלום עולם":           "שלום עולם",
		"مرحبا":               "مرحبا",
		"李小龍":                 "李小龍",
		"Ελένη":               "Ελένη",
		"🎉 party":             "🎉 party",
		"❤️":                  "❤️",
		"👩\u200d💻 dev":        "👩\u200d💻 dev",
		"👍🏽":                  "👍🏽",
		"🇫🇷":                  "🇫🇷",
		"1️⃣ first":           "1️⃣ first",
		"sec gnp.exe":         "sec gnp.exe",
		"ﬁx":                  "ﬁx", // not NFKC: what the user typed
	} {
		got, ae := cleanName("name", in, 64)
		if ae != nil || got != want {
			t.Errorf("cleanName(%+q) = %+q, %v; want %+q", in, got, ae, want)
		}
	}
}

func TestCleanNameRefuses(t *testing.T) {
	const controlMsg = "name must not contain control or bidirectional formatting characters"
	cases := map[string]string{
		"a\x00b":                            controlMsg,
		"a\tb":                              controlMsg,
		"a\nb":                              controlMsg,
		"a\u0085b":                          controlMsg, // NEL, a C1 control
		"a\x7fb":                            controlMsg,
		"a\u200bb":                          "name must not contain invisible or unassigned characters", // zero-width space
		"a\u00adb":                          "name must not contain invisible or unassigned characters", // soft hyphen
		"a\u2060b":                          "name must not contain invisible or unassigned characters", // word joiner
		"A\ufe0fnn":                         "name must not contain invisible or unassigned characters", // a variation selector on a letter
		"a\u200db":                          "name must not contain invisible or unassigned characters", // ZWJ between letters
		"x\U000e0041":                       "name must not contain invisible or unassigned characters", // a tag character
		"a\U000e01f0b":                      "name must not contain invisible or unassigned characters", // unassigned
		"":                                  "name must be 1 to 64 characters",
		" \u3000 ":                          "name must be 1 to 64 characters",
		strings.Repeat("é", 65):             "name must be 1 to 64 characters",
		strings.Repeat("e\u0301", 64) + "x": "name must be 1 to 64 characters",
		"caf\xe9":                           "name must be valid UTF-8",
	}
	for _, r := range bidiControls {
		cases["sec"+string(r)+"gnp.exe"] = controlMsg
	}
	for in, msg := range cases {
		got, ae := cleanName("name", in, 64)
		if ae == nil || ae.status != http.StatusBadRequest || ae.msg != msg {
			t.Errorf("cleanName(%+q) = %+q, %v; want 400 %q", in, got, ae, msg)
		}
	}
	// 64 decomposed characters are 64 after NFC, though 128 runes before.
	if got, ae := cleanName("name", strings.Repeat("e\u0301", 64), 64); ae != nil || got != strings.Repeat("é", 64) {
		t.Errorf("64 decomposed é: %+q %v", got, ae)
	}
}

func TestCheckEmailChars(t *testing.T) {
	for _, bad := range []string{"a\x00@x.org", "a@x.org\n", "a\u202e@x.org", "a@x\u2066.org", "a\x1b@x.org"} {
		if ae := checkEmailChars(bad); ae == nil || ae.status != 400 || !strings.HasPrefix(ae.msg, "email ") {
			t.Errorf("%+q: %v", bad, ae)
		}
	}
	for _, ok := range []string{"ann@example.org", "josé@x.org", "jose\u0301@x.org", "δοκιμή@παράδειγμα.δοκιμή"} {
		if ae := checkEmailChars(ok); ae != nil {
			t.Errorf("%+q: %v", ok, ae)
		}
	}
}
