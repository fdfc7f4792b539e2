package gateway

import (
	"strings"
	"testing"
)

func TestFileName(t *testing.T) {
	for in, want := range map[string]string{
		"photo.png":                   "photo.png",
		"../../etc/passwd":            "passwd",
		`C:\Users\a\evil.exe`:         "evil.exe",
		"a\x00b\nc.txt":               "a_b_c.txt",
		"gnp.\u202eexe":               "gnp._exe",
		"":                            "file",
		"..":                          "file",
		"  spaced  ":                  "spaced",
		"e\u0301t\u00e9.txt":          "\u00e9t\u00e9.txt", // NFC
		"bad\xffutf8":                 "bad_utf8",
		strings.Repeat("é", 200) + "": strings.Repeat("é", 127),
	} {
		if got := fileName(in); got != want {
			t.Errorf("fileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	for _, c := range []struct {
		inline bool
		name   string
		want   string
	}{
		{true, "cat.png", `inline; filename="cat.png"; filename*=UTF-8''cat.png`},
		{false, `a "b";c%.txt`, `attachment; filename="a _b__c_.txt"; filename*=UTF-8''a%20%22b%22%3Bc%25.txt`},
		{false, "日本.pdf", `attachment; filename="__.pdf"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf`},
	} {
		if got := contentDisposition(c.inline, c.name); got != c.want {
			t.Errorf("%q: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestSniffType(t *testing.T) {
	for _, c := range []struct {
		head string
		typ  string
		ok   bool
	}{
		{"\x89PNG\r\n\x1a\n", "image/png", true},
		{"%PDF-1.7", "application/pdf", true},
		{"plain words", "text/plain; charset=utf-8", true},
		{"\x00\x01binary", "application/octet-stream", true},
		{"\xfe\xff\x00h", "application/octet-stream", true},
		{"<html><script>", "text/html; charset=utf-8", false},
		{"<?xml version='1.0'?><svg/>", "text/xml; charset=utf-8", false},
		{"BM\x00\x00", "image/bmp", false},
	} {
		typ, ok := sniffType([]byte(c.head))
		if typ != c.typ || ok != c.ok {
			t.Errorf("%q: %q %v, want %q %v", c.head, typ, ok, c.typ, c.ok)
		}
	}
}
