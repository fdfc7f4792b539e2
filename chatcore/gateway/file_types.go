package gateway

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // image.DecodeConfig for uploads
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net/http"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	_ "golang.org/x/image/webp"
	"golang.org/x/text/unicode/norm"
)

// What an upload is comes from its bytes, never from the client: the first
// 512 bytes go through http.DetectContentType (the WHATWG sniffing rules).
// The result must be on this list; anything else (HTML, XML, fonts,
// PostScript, unlisted image formats) is refused with 415, since a browser
// or a proxy that ignores our headers would run or render it. Bytes nothing
// recognizes are stored as application/octet-stream: a download.
var allowedTypes = map[string]bool{
	"image/png":                 true,
	"image/jpeg":                true,
	"image/gif":                 true,
	"image/webp":                true,
	"application/pdf":           true,
	"text/plain; charset=utf-8": true,
	"application/zip":           true,
	"application/x-gzip":        true,
	"audio/mpeg":                true,
	"audio/wave":                true,
	"application/ogg":           true,
	"video/mp4":                 true,
	"video/webm":                true,
	"application/octet-stream":  true,
}

// inlineImage reports whether a stored type is an image shown inline:
// the raster formats whose size is recorded. Everything else is served as
// an attachment (a download), whatever it is.
func inlineImage(ctype string) bool {
	switch ctype {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return true
	}
	return false
}

// sniffType is the stored type of a file that starts with head, and
// whether it is allowed.
func sniffType(head []byte) (string, bool) {
	t := http.DetectContentType(head)
	if t == "text/plain; charset=utf-16be" || t == "text/plain; charset=utf-16le" {
		// A BOM says UTF-16: fine as a download, but not as UTF-8 text.
		t = "application/octet-stream"
	}
	return t, allowedTypes[t]
}

// imageSize decodes an image's header (not its pixels) for its width and
// height. ok is false when the bytes are not a valid image of that type.
func imageSize(r io.Reader) (w, h int, ok bool) {
	cfg, _, err := image.DecodeConfig(r)
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, false
	}
	return cfg.Width, cfg.Height, true
}

// fileName makes the client's name for an upload safe to store and to put
// in a header: only its last path element (either slash), NFC, without
// control, format (bidi, invisible) or unassigned characters (each
// becomes _), at most 255 bytes, and never empty, "." or "..".
func fileName(raw string) string {
	if !utf8.ValidString(raw) {
		raw = strings.ToValidUTF8(raw, "_")
	}
	raw = path.Base(strings.ReplaceAll(raw, "\\", "/"))
	raw = norm.NFC.String(raw)
	var b strings.Builder
	for _, r := range raw {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || !unicode.IsPrint(r) && r != ' ' || r == '/' {
			r = '_'
		}
		if b.Len()+utf8.RuneLen(r) > 255 {
			break
		}
		b.WriteRune(r)
	}
	name := strings.TrimSpace(b.String())
	if name == "" || name == "." || name == ".." {
		name = "file"
	}
	return name
}

// contentDisposition is the header for serving a file named name: inline
// for an image, attachment for anything else, with an ASCII fallback
// filename (RFC 6266) and the exact name as filename* (RFC 5987 UTF-8,
// percent-encoded).
func contentDisposition(inline bool, name string) string {
	kind := "attachment"
	if inline {
		kind = "inline"
	}
	var ascii strings.Builder
	for _, r := range name {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' || r == ';' {
			r = '_'
		}
		ascii.WriteRune(r)
	}
	return kind + `; filename="` + ascii.String() + `"; filename*=UTF-8''` + rfc5987(name)
}

// rfc5987 percent-encodes everything outside RFC 5987's attr-char.
func rfc5987(s string) string {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
