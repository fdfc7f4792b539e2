package gateway

import (
	"slices"
	"testing"
)

func TestCheckEmoji(t *testing.T) {
	for _, ok := range []string{"👍", "❤️", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "1️⃣", "#️⃣", ":party_parrot:", ":+1:", "©", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"} {
		if ae := checkEmoji(ok); ae != nil {
			t.Errorf("%q refused: %v", ok, ae)
		}
	}
	for _, bad := range []string{"", "a", "ok", "👍 👍", " 👍", "1", "::", ":Party:", ":a b:", "\u200d", "\ufe0f", "👍\x00", "\xff", "<script>"} {
		if ae := checkEmoji(bad); ae == nil || ae.status != 400 {
			t.Errorf("%q: %v, want 400", bad, ae)
		}
	}
	if ae := checkEmoji(":" + string(make([]byte, 70)) + ":"); ae == nil || ae.status != 413 {
		t.Errorf("oversize: %v, want 413", ae)
	}
}

func TestMentionNames(t *testing.T) {
	for body, want := range map[string][]string{
		"hi @Bob":                      {"bob"},
		"@ann, @bob! and @ann again":   {"ann", "bob"},
		"mail me at a@b.example":       nil,
		"@ alone":                      nil,
		"(@carol) @dave_x: @eve-y.":    {"dave_x", "eve-y"},
		"no mentions here":             nil,
		"@AnnSmith and @annsmith":      {"annsmith"},
		"tabs\t@zoe\nnewline @émilie.": {"zoe", "émilie"},
	} {
		if got := mentionNames(body); !slices.Equal(got, want) {
			t.Errorf("%q: %q, want %q", body, got, want)
		}
	}
	many := ""
	for i := 0; i < 30; i++ {
		many += " @u" + string(rune('a'+i))
	}
	if n := len(mentionNames(many)); n != maxMentionNames {
		t.Errorf("%d names, want at most %d", n, maxMentionNames)
	}
}
