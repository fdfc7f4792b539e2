package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/internal/testenv"
)

// Files (issue 15) through the real binary: uploads, attachments, the
// file route's headers and membership checks, the sweep, and the memory an
// upload costs the gateway process (VmRSS/VmHWM from /proc).

// filesPorts picks a free port in this suite's range (18850-18899), so it
// never meets another suite's ephemeral ports.
func filesPort(t testing.TB, taken map[int]bool) int {
	t.Helper()
	for p := 18850; p < 18900; p++ {
		if taken[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		taken[p] = true
		return p
	}
	t.Fatal("no free port in 18850-18899")
	return 0
}

const filesMaxFile = 12 << 20

// filesGateway is one gateway process and its files directory.
type filesGateway struct {
	*server
	proc *testenv.Proc
	dir  string
	dsn  string
}

// startFilesGateway runs bin on dsn, with Redis at redisURL (empty: none)
// and uploads under files.
func startFilesGateway(t *testing.T, bin, dsn, redisURL, files string, taken map[int]bool) *filesGateway {
	t.Helper()
	s := &server{port: filesPort(t, taken), admin: filesPort(t, taken)}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	s.ws = fmt.Sprintf("ws://127.0.0.1:%d/ws", s.port)
	dir := t.TempDir()
	redis := ""
	if redisURL != "" {
		redis = "redis " + redisURL
	}
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	chat {
		postgres %s
		%s
		secret %s
		password_memory_kib 1024
		password_time 1
		files_dir %s
		unattached_file_ttl 8s
	}
}
http://127.0.0.1:%d {
	encode zstd gzip
	header X-Content-Type-Options nosniff
	@chat path /api /api/* /ws /healthz /readyz
	handle @chat {
		header Content-Security-Policy "default-src 'none'; frame-ancestors 'none'"
		chat {
			max_file %d
			upload_rate 1/m 30
			user_send_rate off
			ip_conns off
			ip_connect_rate off
			ip_request_rate off
			user_request_rate off
			auth_ip_rate off
			login_account_rate off
			login_account_ip_rate off
		}
	}
}
`, s.admin, dsn, redis, testSecret, files, s.port, filesMaxFile)
	path := testenv.WriteFile(t, dir, "Caddyfile", cfg)
	p := testenv.Start(t, dir, "gateway", nil, bin, "run", "--config", path, "--adapter", "caddyfile")
	testenv.WaitHTTP(t, s.base+"/readyz", 200, 90*time.Second)
	return &filesGateway{server: s, proc: p, dir: files, dsn: dsn}
}

// upload posts body as a file; claimed is the Content-Type the client
// sends (the server ignores it for the stored type).
func (c *client) upload(t testing.TB, room int64, name, claimed string, body io.Reader, length int64) (reply, chatclient.File) {
	t.Helper()
	u := fmt.Sprintf("%s/api/rooms/%d/files?name=%s", c.s.base, room, url.QueryEscape(name))
	req, err := http.NewRequest("POST", u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length // -1 or 0 with a plain reader: chunked
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", claimed)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, body: b}
	var f chatclient.File
	if r.status == http.StatusCreated {
		r.decode(t, &f)
	}
	return r, f
}

func (c *client) uploadBytes(t testing.TB, room int64, name string, b []byte) (reply, chatclient.File) {
	t.Helper()
	return c.upload(t, room, name, "application/octet-stream", bytes.NewReader(b), int64(len(b)))
}

// mustUpload uploads b and fails unless it is stored.
func (c *client) mustUpload(t testing.TB, room int64, name string, b []byte) chatclient.File {
	t.Helper()
	r, f := c.uploadBytes(t, room, name, b)
	if r.status != http.StatusCreated {
		t.Fatalf("upload %s: %d %s", name, r.status, r.body)
	}
	return f
}

// fetch GETs a file URL with the user's token (and extra headers).
func (c *client) fetch(t testing.TB, path string, h ...string) reply {
	t.Helper()
	req, _ := http.NewRequest("GET", c.s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func encoded(t testing.TB, enc func(io.Writer, image.Image) error, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// webp1x1 is a 1×1 lossless WebP.
var webp1x1, _ = hex.DecodeString("524946461a000000574542505650384c0d0000002f0000001007101111888808fe0700")

// binary is n bytes nothing sniffs as a known type, made as they are read.
type binary struct{ n, off int64 }

func (b *binary) Read(p []byte) (int, error) {
	if b.off >= b.n {
		return 0, io.EOF
	}
	k := int64(len(p))
	if k > b.n-b.off {
		k = b.n - b.off
	}
	for i := range p[:k] {
		p[i] = byte((b.off + int64(i)) * 7)
	}
	if b.off == 0 && k >= 8 {
		copy(p, "CGBIN\x00\x01\x02")
	}
	b.off += k
	return int(k), nil
}

func TestFilesThroughBinary(t *testing.T) {
	g := startFilesGateway(t, testenv.BuildGateway(t), testenv.FreshDB(t, "chatgate_test_files"), "", filepath.Join(t.TempDir(), "files"), map[int]bool{})
	alice, bob, carol := g.register(t, "Alice"), g.register(t, "Bob"), g.register(t, "Carol")
	room := alice.createRoom(t, "files", false)
	bob.join(t, room)
	other := alice.createRoom(t, "other", true)
	msgPath := fmt.Sprintf("/api/rooms/%d/messages", room)

	t.Run("image dimensions and sniffed types", func(t *testing.T) {
		for _, c := range []struct {
			name, claimed string
			body          []byte
			typ           string
			w, h          int
		}{
			{"a.png", "text/csv", encoded(t, png.Encode, 40, 30), "image/png", 40, 30},
			{"b.jpg", "image/png", encoded(t, func(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, nil) }, 33, 17), "image/jpeg", 33, 17},
			{"c.gif", "application/octet-stream", encoded(t, func(w io.Writer, m image.Image) error { return gif.Encode(w, m, nil) }, 7, 5), "image/gif", 7, 5},
			{"d.webp", "image/png", webp1x1, "image/webp", 1, 1},
			{"e.txt", "image/png", []byte("just some text\n"), "text/plain; charset=utf-8", 0, 0},
		} {
			r, f := alice.upload(t, room, c.name, c.claimed, bytes.NewReader(c.body), int64(len(c.body)))
			if r.status != http.StatusCreated || f.Type != c.typ || f.Width != c.w || f.Height != c.h ||
				f.Size != int64(len(c.body)) || f.Name != c.name || f.URL != fmt.Sprintf("/api/rooms/%d/files/%d", room, f.ID) {
				t.Errorf("%s: %d %s, want %s %dx%d", c.name, r.status, r.body, c.typ, c.w, c.h)
			}
		}
	})

	t.Run("bad input", func(t *testing.T) {
		big := func() io.Reader { return &binary{n: filesMaxFile + 1} }
		before := countFiles(t, g.dir)
		for _, c := range []struct {
			name   string
			who    *client
			room   int64
			claim  string
			body   io.Reader
			length int64
			status int
			code   string
			msg    string
		}{
			{"not a member", carol, room, "application/octet-stream", strings.NewReader("hello"), 5, 403, "forbidden", ""},
			{"no such room", alice, 999999, "application/octet-stream", strings.NewReader("hello"), 5, 404, "not_found", ""},
			{"too large, Content-Length", alice, room, "application/octet-stream", big(), filesMaxFile + 1, 413, "too_large", strconv.Itoa(filesMaxFile)},
			{"too large, streamed", alice, room, "application/octet-stream", big(), -1, 413, "too_large", strconv.Itoa(filesMaxFile)},
			{"HTML", alice, room, "image/png", strings.NewReader("<!DOCTYPE html><script>alert(1)</script>"), -1, 415, "bad_request", "text/html"},
			{"XML", alice, room, "application/octet-stream", strings.NewReader(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), -1, 415, "bad_request", "text/xml"},
			{"PNG header, not an image", alice, room, "image/png", strings.NewReader("\x89PNG\r\n\x1a\nnot really"), -1, 415, "bad_request", "not a valid image"},
			{"empty", alice, room, "application/octet-stream", strings.NewReader(""), 0, 400, "bad_request", "empty"},
			{"form content type", alice, room, "multipart/form-data; boundary=x", strings.NewReader("x"), 1, 415, "bad_request", "Content-Type"},
		} {
			r, _ := c.who.upload(t, c.room, "f.bin", c.claim, c.body, c.length)
			if r.status != c.status || r.errCode(t) != c.code || !strings.Contains(string(r.body), c.msg) {
				t.Errorf("%s: %d %s, want %d %s naming %q", c.name, r.status, r.body, c.status, c.code, c.msg)
			}
		}
		// Nothing refused was kept (nor left half-written).
		if n := countFiles(t, g.dir); n > before {
			t.Errorf("%d files on disk, %d before the refusals", n, before)
		}
	})

	t.Run("attach, deliver, history and fetch", func(t *testing.T) {
		img := encoded(t, png.Encode, 64, 48)
		pic := alice.mustUpload(t, room, `../../etc/pass`+"\u202e"+`wd.png`, img)
		doc := alice.mustUpload(t, room, "résumé \"final\";.bin", []byte("CGBIN\x00\x01\x02 some bytes"))
		if pic.Name != "pass_wd.png" || doc.Type != "application/octet-stream" {
			t.Fatalf("stored %+v, %+v", pic, doc)
		}
		// Before a message carries it, only the uploader sees it.
		if r := bob.fetch(t, pic.URL); r.status != 404 {
			t.Fatalf("unattached file for another member: %d", r.status)
		}
		if r := alice.fetch(t, pic.URL); r.status != 200 || !bytes.Equal(r.body, img) {
			t.Fatalf("unattached file for its uploader: %d", r.status)
		}

		ws := bob.dial(t)
		defer ws.close()
		ws.subscribe(t, room, nil)
		r := alice.call(t, "POST", msgPath, map[string]any{"body": "", "cid": "f-1", "files": []int64{doc.ID, pic.ID}})
		var sent chatclient.Message
		if r.status != 201 {
			t.Fatalf("send with files: %d %s", r.status, r.body)
		}
		r.decode(t, &sent)
		want := []chatclient.File{pic, doc} // upload (id) order
		if !sameFiles(sent.Files, want) {
			t.Fatalf("sent %+v, want %+v", sent.Files, want)
		}
		if e := ws.next(t, "message"); e.Seq != sent.Seq || !sameFiles(e.Files, want) {
			t.Fatalf("live event %+v", e)
		}
		var page chatclient.Page
		alice.call(t, "GET", msgPath, nil).decode(t, &page)
		if last := page.Messages[0]; last.Seq != sent.Seq || !sameFiles(last.Files, want) {
			t.Fatalf("history %+v", last)
		}
		// A resend of the same cid is the same message, not a conflict.
		r = alice.call(t, "POST", msgPath, map[string]any{"body": "", "cid": "f-1", "files": []int64{doc.ID, pic.ID}})
		var again chatclient.Message
		if r.status != 200 {
			t.Fatalf("resend: %d %s", r.status, r.body)
		}
		if r.decode(t, &again); again.Seq != sent.Seq || !sameFiles(again.Files, want) {
			t.Fatalf("resend answered %+v", again)
		}

		// The image: inline, its exact bytes, the headers that keep it inert.
		r = bob.fetch(t, pic.URL)
		if r.status != 200 || !bytes.Equal(r.body, img) || r.header.Get("Content-Type") != "image/png" {
			t.Fatalf("fetch image: %d %q", r.status, r.header.Get("Content-Type"))
		}
		etag := r.header.Get("ETag")
		checkFileHeaders(t, r, `inline; filename="pass_wd.png"; filename*=UTF-8''pass_wd.png`)
		// Anything else: a download, the name encoded (RFC 6266/5987).
		r = bob.fetch(t, doc.URL)
		checkFileHeaders(t, r, `attachment; filename="r_sum_ _final__.bin"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%3B.bin`)
		// Range and revalidation.
		if r := bob.fetch(t, pic.URL, "Range", "bytes=0-7"); r.status != 206 || string(r.body) != "\x89PNG\r\n\x1a\n" {
			t.Fatalf("range: %d %q", r.status, r.body)
		}
		if r := bob.fetch(t, pic.URL, "If-None-Match", etag); r.status != 304 {
			t.Fatalf("revalidation: %d", r.status)
		}
	})

	t.Run("attach refusals", func(t *testing.T) {
		mine := alice.mustUpload(t, room, "a.txt", []byte("alice's"))
		elsewhere := alice.mustUpload(t, other, "b.txt", []byte("other room"))
		used := alice.mustUpload(t, room, "c.txt", []byte("used"))
		if r := alice.call(t, "POST", msgPath, map[string]any{"body": "x", "files": []int64{used.ID}}); r.status != 201 {
			t.Fatalf("attach: %d %s", r.status, r.body)
		}
		many := make([]int64, 11)
		for i := range many {
			many[i] = int64(i + 1)
		}
		for _, c := range []struct {
			name   string
			who    *client
			files  []int64
			status int
			code   string
		}{
			{"someone else's file", bob, []int64{mine.ID}, 403, "forbidden"},
			{"another room's file", alice, []int64{elsewhere.ID}, 403, "forbidden"},
			{"unknown file", alice, []int64{987654321}, 404, "not_found"},
			{"already attached", alice, []int64{used.ID}, 409, "conflict"},
			{"named twice", alice, []int64{mine.ID, mine.ID}, 400, "bad_request"},
			{"too many", alice, many, 400, "bad_request"},
			{"not positive", alice, []int64{-1}, 400, "bad_request"},
		} {
			r := c.who.call(t, "POST", msgPath, map[string]any{"body": "x", "files": c.files})
			if r.status != c.status || r.errCode(t) != c.code {
				t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
			}
		}
		// Over the WebSocket: the same use case, the same answers.
		ws := bob.dial(t)
		defer ws.close()
		ws.send(t, map[string]any{"type": "send", "room": room, "body": "x", "cid": "ws-f", "files": []int64{mine.ID}})
		if e := ws.next(t, "error"); e.Code != "forbidden" || e.CID != "ws-f" {
			t.Fatalf("ws: %+v", e)
		}
		own := bob.mustUpload(t, room, "bob.txt", []byte("bob's"))
		ws.send(t, map[string]any{"type": "send", "room": room, "body": "", "cid": "ws-g", "files": []int64{own.ID}})
		if e := ws.next(t, "ack"); e.CID != "ws-g" {
			t.Fatalf("ws ack: %+v", e)
		}
	})

	t.Run("fetch refusals and a member who left", func(t *testing.T) {
		f := alice.mustUpload(t, room, "left.txt", []byte("for members"))
		if r := alice.call(t, "POST", msgPath, map[string]any{"body": "y", "files": []int64{f.ID}}); r.status != 201 {
			t.Fatalf("attach: %d %s", r.status, r.body)
		}
		if r := carol.fetch(t, f.URL); r.status != 403 || r.errCode(t) != "forbidden" {
			t.Fatalf("non-member: %d %s", r.status, r.body)
		}
		if r := bob.fetch(t, fmt.Sprintf("/api/rooms/%d/files/987654321", room)); r.status != 404 || r.errCode(t) != "not_found" {
			t.Fatalf("unknown file: %d %s", r.status, r.body)
		}
		if r := alice.fetch(t, fmt.Sprintf("/api/rooms/%d/files/%d", other, f.ID)); r.status != 404 {
			t.Fatalf("file under another room: %d %s", r.status, r.body)
		}
		if r := bob.fetch(t, f.URL); r.status != 200 {
			t.Fatalf("member: %d", r.status)
		}
		bob.call(t, "POST", fmt.Sprintf("/api/rooms/%d/leave", room), nil)
		if r := bob.fetch(t, f.URL); r.status != 403 || r.errCode(t) != "forbidden" {
			t.Fatalf("after leaving: %d %s", r.status, r.body)
		}
		if r := alice.fetch(t, f.URL); r.status != 200 {
			t.Fatalf("a member still: %d", r.status)
		}
		bob.join(t, room)
	})

	t.Run("upload rate per user", func(t *testing.T) {
		dave := g.register(t, "Dave")
		dave.join(t, room)
		for i := 0; ; i++ {
			r, _ := dave.uploadBytes(t, room, "r.txt", []byte("r"))
			if r.status == 429 {
				if i != 30 || r.header.Get("Retry-After") == "" {
					t.Fatalf("429 after %d uploads (burst 30), Retry-After %q", i, r.header.Get("Retry-After"))
				}
				break
			}
			if r.status != 201 || i > 30 {
				t.Fatalf("upload %d: %d %s", i, r.status, r.body)
			}
		}
	})

	t.Run("sweep of unattached uploads", func(t *testing.T) {
		kept := alice.mustUpload(t, room, "kept.txt", []byte("attached"))
		if r := alice.call(t, "POST", msgPath, map[string]any{"body": "z", "files": []int64{kept.ID}}); r.status != 201 {
			t.Fatalf("attach: %d %s", r.status, r.body)
		}
		lost := alice.mustUpload(t, room, "lost.txt", []byte("never attached"))
		deadline := time.Now().Add(40 * time.Second)
		for alice.fetch(t, lost.URL).status != 404 {
			if time.Now().After(deadline) {
				t.Fatal("unattached upload still served after its TTL (8s) and more")
			}
			time.Sleep(500 * time.Millisecond)
		}
		if r := alice.fetch(t, kept.URL); r.status != 200 {
			t.Fatalf("attached file swept: %d", r.status)
		}
		// Rows and bytes went together: one stored file per row.
		conn, err := pgx.Connect(context.Background(), g.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var rows int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM files`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if n := countFiles(t, g.dir); n != rows {
			t.Fatalf("%d files on disk, %d rows", n, rows)
		}
	})

	t.Run("a 10 MB upload is streamed", func(t *testing.T) {
		const size = 10_000_000
		pid := g.proc.Pid()
		// Warm the path (buffers, pools, goroutines) with a small upload.
		alice.upload(t, room, "warm.bin", "application/octet-stream", &binary{n: 256 << 10}, -1)
		rss0, _ := procStatus(t, pid)
		// Reset VmHWM to the current RSS, so it then holds the peak
		// during the upload.
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
			t.Fatalf("reset VmHWM: %v", err)
		}
		start := time.Now()
		r, f := alice.upload(t, room, "big.bin", "application/octet-stream", &binary{n: size}, -1)
		took := time.Since(start)
		if r.status != 201 || f.Size != size {
			t.Fatalf("upload: %d %s", r.status, r.body)
		}
		rss1, hwm1 := procStatus(t, pid)
		load, _ := os.ReadFile("/proc/loadavg")
		t.Logf("10 MB upload (chunked) in %v: VmRSS %d -> %d KiB (%+d), VmHWM during it %d KiB (peak %+d KiB over the start); loadavg %s",
			took.Round(time.Millisecond), rss0, rss1, rss1-rss0, hwm1, hwm1-rss0, strings.TrimSpace(string(load)))
		if hwm1-rss0 > 1024 || rss1-rss0 > 1024 {
			t.Fatalf("upload raised RSS by more than 1 MiB: rss %+d KiB, peak %+d KiB", rss1-rss0, hwm1-rss0)
		}
	})
}

// TestFilesTwoInstances: two gateways on one database, one Redis and one
// files directory. A file uploaded and attached on A reaches B's
// subscriber with its metadata (over the bus) and is served by B; after
// the reader leaves on A, B refuses it within milliseconds (the entity
// caches' invalidation channel), though it served it to them a moment
// before.
func TestFilesTwoInstances(t *testing.T) {
	bin := testenv.BuildGateway(t)
	dsn := testenv.FreshDB(t, "chatgate_test_files_two")
	rs := testenv.StartRedis(t)
	files := filepath.Join(t.TempDir(), "files")
	taken := map[int]bool{}
	a := startFilesGateway(t, bin, dsn, rs.URL(), files, taken)
	b := startFilesGateway(t, bin, dsn, rs.URL(), files, taken)

	alice := a.register(t, "Alice")
	room := alice.createRoom(t, "two", false)
	bobA := a.register(t, "Bob")
	bobA.join(t, room)
	bobB := &client{s: b.server, token: bobA.token, id: bobA.id, name: bobA.name}
	ws := bobB.dial(t)
	defer ws.close()
	ws.subscribe(t, room, nil)

	// Through chatclient, as a bot would.
	img := encoded(t, png.Encode, 20, 10)
	up, err := alice.api().Upload(context.Background(), room, "two.png", bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	f := *up
	if m, dup, err := alice.api().PostFiles(context.Background(), room, "look", "", []int64{f.ID}); err != nil || dup || !sameFiles(m.Files, []chatclient.File{f}) {
		t.Fatalf("send: %+v %v %v", m, dup, err)
	}
	if e := ws.next(t, "message"); len(e.Files) != 1 || e.Files[0] != f || f.Width != 20 || f.Height != 10 {
		t.Fatalf("event on B: %+v, want %+v", e.Files, f)
	}
	if r := bobB.fetch(t, f.URL); r.status != 200 || !bytes.Equal(r.body, img) {
		t.Fatalf("B serves: %d", r.status)
	}
	bobA.call(t, "POST", fmt.Sprintf("/api/rooms/%d/leave", room), nil)
	// B's membership cache hears of the leave over the entity caches'
	// invalidation channel: milliseconds (the target is 10 ms; a shared
	// machine gets slack), then never again a 200.
	start := time.Now()
	for {
		r := bobB.fetch(t, f.URL)
		if r.status == 403 && r.errCode(t) == "forbidden" {
			break
		}
		if r.status != 200 || time.Since(start) > 500*time.Millisecond {
			t.Fatalf("B %v after a leave on A: %d %s", time.Since(start), r.status, r.body)
		}
	}
	t.Logf("B refused the file %v after the leave on A", time.Since(start))
	for range 5 {
		if r := bobB.fetch(t, f.URL); r.status != 403 {
			t.Fatalf("B after refusing once: %d", r.status)
		}
	}
}

// procStatus reads a process's VmRSS and VmHWM (KiB).
func procStatus(t testing.TB, pid int) (rss, hwm int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm
}

func checkFileHeaders(t testing.TB, r reply, disposition string) {
	t.Helper()
	for k, want := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; sandbox",
		"Content-Disposition":     disposition,
		"Cache-Control":           "private, no-cache",
	} {
		if got := r.header.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if r.header.Get("ETag") == "" {
		t.Error("no ETag")
	}
}

func sameFiles(got, want []chatclient.File) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// countFiles counts the files under dir, temporary ones included.
func countFiles(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
