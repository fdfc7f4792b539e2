package caddymodule

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/chatgate/chatgate/chatcore/limits"
)

func TestUnmarshalHandler(t *testing.T) {
	d := caddyfile.NewTestDispenser(`chat {
		max_frame 32KiB
		max_body 2KiB
		max_request 1MiB
		queue_frames 256
		queue_bytes 2MiB
		ping_interval 20s
		pong_timeout 5s
		write_timeout 3s
		compression
		compress_min 1KiB
		send_rate 7.5
		send_burst 15
		origins https://chat.example.com http://localhost:5173
		stream_close_delay 1m
		drain_batch 64
		drain_pause 100ms
		drain_timeout 20s
		max_file 5MiB
		upload_rate 2/m 7
		search_rate 3/s 9
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Handler{MaxFrame: 32 << 10, MaxBody: 2 << 10, MaxRequest: 1 << 20, QueueFrames: 256, QueueBytes: 2 << 20,
		PingInterval: caddy.Duration(20 * time.Second), PongTimeout: caddy.Duration(5 * time.Second),
		WriteTimeout: caddy.Duration(3 * time.Second), Compression: true, CompressMin: 1 << 10, SendRate: 7.5, SendBurst: 15,
		Origins:          []string{"https://chat.example.com", "http://localhost:5173"},
		StreamCloseDelay: caddy.Duration(time.Minute), DrainBatch: 64, DrainPause: caddy.Duration(100 * time.Millisecond),
		DrainTimeout: caddy.Duration(20 * time.Second), SearchRate: limits.Rate{PerSecond: 3, Burst: 9},
		MaxFile: 5 << 20, UploadRate: limits.Rate{PerSecond: 2.0 / 60, Burst: 7}}
	got, _ := json.Marshal(h)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Fatalf("got  %s\nwant %s", got, exp)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}

	for _, bad := range []string{
		"chat extra", "chat {\n bogus 1\n}", "chat {\n max_frame\n}", "chat {\n max_frame lots\n}",
		"chat {\n ping_interval soon\n}", "chat {\n compression maybe\n}", "chat {\n origins\n}",
		"chat {\n queue_frames -1\n}", "chat {\n max_file big\n}", "chat {\n upload_rate 1/s 0\n}",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if err := (&Handler{MaxFrame: 1024, MaxBody: 4096}).Validate(); err == nil {
		t.Error("max_body over max_frame accepted")
	}
}

func TestUnmarshalApp(t *testing.T) {
	d := caddyfile.NewTestDispenser(`chat {
		postgres postgres://u@db:5432/chat
		postgres_replica
		redis redis://cache:6379/0
		redis_prefix chat:prod:
		secret 0123456789abcdef0123
		secret_file /tmp/x
		instance gw-1
		pool_size 32
		statement_timeout 3s
		slow_query 20ms
		batch_max 256
		batch_workers 1
		token_ttl 12h
		password_memory_kib 65536
		password_time 3
		password_concurrency 3
		password_queue off
		recent_buffer 512
		start_timeout 30s
		files_dir /var/lib/chatgate/files
		unattached_file_ttl 2h
		search_language german
	}`)
	var a App
	if err := a.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if a.Postgres != "postgres://u@db:5432/chat" || a.PostgresReplica != "" || a.Redis != "redis://cache:6379/0" ||
		a.RedisPrefix != "chat:prod:" || a.Instance != "gw-1" || a.PoolSize != 32 || time.Duration(a.SlowQuery) != 20*time.Millisecond ||
		a.BatchMax != 256 || a.BatchWorkers != 1 || time.Duration(a.TokenTTL) != 12*time.Hour ||
		a.PasswordMemoryKiB != 65536 || a.PasswordTime != 3 || a.PasswordConcurrency != 3 || a.PasswordQueue != -1 || a.RecentBuffer != 512 || time.Duration(a.StartTimeout) != 30*time.Second ||
		a.SearchLanguage != "german" ||
		a.FilesDir != "/var/lib/chatgate/files" || time.Duration(a.UnattachedFileTTL) != 2*time.Hour {
		t.Fatalf("parsed %+v", a)
	}
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("chat {\n nope x\n}")); err == nil {
		t.Error("unknown option accepted")
	}
	if err := (&App{Secret: "short"}).Validate(); err == nil {
		t.Error("short secret accepted")
	}
}

// TestValidateOffline: `caddy validate` provisions every module; it must
// succeed with no database reachable, since Provision does no network I/O.
func TestValidateOffline(t *testing.T) {
	dir := t.TempDir()
	cfg := `{
	admin off
	chat {
		postgres postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable
		secret_file ` + dir + `/secret
	}
}
:0 {
	chat
}`
	j, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := caddy.Validate(&caddy.Config{}); err != nil {
		t.Fatal(err)
	}
	var c caddy.Config
	if err := json.Unmarshal(j, &c); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&c); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("validate took %v: something dialed", d)
	}
	// The secret file was generated once, private, and is reused.
	b, err := os.ReadFile(dir + "/secret")
	if err != nil || len(strings.TrimSpace(string(b))) != 64 {
		t.Fatalf("secret file: %q %v", b, err)
	}
	if fi, _ := os.Stat(dir + "/secret"); fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode %v", fi.Mode())
	}
	if err := caddy.Validate(&c); err != nil {
		t.Fatal(err)
	}
	b2, _ := os.ReadFile(dir + "/secret")
	if string(b2) != string(b) {
		t.Fatal("secret regenerated")
	}
}

// TestShippedCaddyfile: the repository's Caddyfile adapts, with the chat
// handler ordered before file_server and inside the chat routes.
func TestShippedCaddyfile(t *testing.T) {
	j, warns := adaptShipped(t)
	for _, w := range warns {
		t.Errorf("warning: %v", w)
	}
	s := string(j)
	for _, want := range []string{`"handler":"chat"`, `"compression":true`, `"apps":{"chat"`, `"precompressed"`, `"handler":"metrics"`} {
		if !strings.Contains(s, want) {
			t.Errorf("adapted config lacks %s", want)
		}
	}
	// The client's file_server is the precompressed one (the operator
	// listener's live view has a plain one, on another server).
	if strings.Index(s, `"handler":"chat"`) > strings.Index(s, `"precompressed"`) {
		t.Error("chat is ordered after the client's file_server")
	}
}

// One spelling of off: every limit takes `off`; -1, the old spelling of
// the counts, is still accepted. Other negative numbers are errors.
func TestOffSpellings(t *testing.T) {
	for _, tc := range []struct {
		opt string
		get func(*Handler) int
		on  string
		set int
	}{
		{"user_send_rate", func(h *Handler) int { return h.UserSendRate }, "5", 5},
		{"ip_conns", func(h *Handler) int { return h.IPConns }, "10", 10},
		{"max_rooms", func(h *Handler) int { return h.MaxRooms }, "16", 16},
		{"send_buffer", func(h *Handler) int { return h.SendBuffer }, "64KiB", 64 << 10},
	} {
		for val, want := range map[string]int{"off": -1, "-1": -1, tc.on: tc.set} {
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("chat {\n " + tc.opt + " " + val + "\n}")); err != nil {
				t.Errorf("%s %s: %v", tc.opt, val, err)
				continue
			}
			if got := tc.get(&h); got != want {
				t.Errorf("%s %s: %d, want %d", tc.opt, val, got, want)
			}
		}
		for _, bad := range []string{"-2", "of", "none"} {
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("chat {\n " + tc.opt + " " + bad + "\n}")); err == nil {
				t.Errorf("%s %s: no error", tc.opt, bad)
			}
		}
	}
	for _, val := range []string{"off", "-1/s"} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("chat {\n ip_request_rate " + val + "\n}")); err != nil {
			t.Errorf("ip_request_rate %s: %v", val, err)
		}
	}
	var a App
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("chat {\n password_queue off\n}")); err != nil || a.PasswordQueue != -1 {
		t.Errorf("password_queue off: %d %v", a.PasswordQueue, err)
	}
}
