package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCacheHandler(t *testing.T) {
	d := caddyfile.NewTestDispenser(`chat_cache 30s {
		name messages
		vary_query after limit
		vary_header Accept-Language
		private
		tags room:{http.request.uri.path.2} rooms:list
		max_size 256KiB
		storage redis redis://127.0.0.1:6379/3
		prefix test:http:
		timeout 40ms
	}`)
	var h CacheHandler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := CacheHandler{TTL: caddy.Duration(30 * time.Second), Name: "messages", VaryQuery: []string{"after", "limit"},
		VaryHeader: []string{"Accept-Language"}, Private: true, Tags: []string{"room:{http.request.uri.path.2}", "rooms:list"},
		MaxSize: 256 << 10, Storage: "redis", Redis: "redis://127.0.0.1:6379/3", Prefix: "test:http:",
		Timeout: caddy.Duration(40 * time.Millisecond)}
	got, _ := json.Marshal(h)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Fatalf("got  %s\nwant %s", got, exp)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	var shared CacheHandler
	if err := shared.UnmarshalCaddyfile(caddyfile.NewTestDispenser("chat_cache 5m {\n shared_by_members {http.request.uri.path.2}\n}")); err != nil ||
		shared.SharedByMembers != "{http.request.uri.path.2}" {
		t.Fatalf("shared_by_members: %v %+v", err, shared)
	}
	var composed CacheHandler
	if err := composed.UnmarshalCaddyfile(caddyfile.NewTestDispenser("chat_cache 10m {\n compose room_list\n tags rooms:list\n}")); err != nil ||
		composed.Compose != "room_list" || composed.Validate() != nil {
		t.Fatalf("compose: %v %+v", err, composed)
	}
	var latest CacheHandler
	if err := latest.UnmarshalCaddyfile(caddyfile.NewTestDispenser("chat_cache 5m {\n shared_by_members {http.request.uri.path.2}\n compose messages\n vary_query limit\n tags members:{http.request.uri.path.2} history:{http.request.uri.path.2}\n}")); err != nil ||
		latest.Compose != "messages" || latest.Validate() != nil {
		t.Fatalf("compose messages: %v %+v", err, latest)
	}
	for _, bad := range []string{
		"chat_cache {\n compose\n}", "chat_cache {\n compose room room_list\n}",
		"chat_cache 1m extra", "chat_cache {\n bogus\n}", "chat_cache {\n ttl\n}", "chat_cache {\n ttl soon\n}",
		"chat_cache {\n tags\n}", "chat_cache {\n private yes\n}", "chat_cache {\n storage\n}", "chat_cache {\n storage disk x\n}",
		"chat_cache {\n max_size lots\n}", "chat_cache {\n shared_by_members\n}", "chat_cache {\n shared_by_members 1 2\n}",
	} {
		var h CacheHandler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	for _, bad := range []CacheHandler{{}, {TTL: caddy.Duration(48 * time.Hour)}, {TTL: 1, Storage: "disk"},
		{TTL: 1, IgnoreQuery: true, VaryQuery: []string{"a"}},
		{TTL: 1, SharedByMembers: "{http.request.uri.path.2}", Tags: []string{"user:{chat_cache.user}"}},
		{TTL: 1, Compose: "rooms"}, {TTL: 1, Compose: "room"},
		{TTL: 1, Compose: "room_list", SharedByMembers: "{http.request.uri.path.2}"},
		{TTL: 1, Compose: "room_list", Tags: []string{"rooms:list", "user:{chat_cache.user}"}},
		{TTL: 1, Compose: "messages", VaryQuery: []string{"limit"}},
		{TTL: 1, Compose: "messages", SharedByMembers: "{http.request.uri.path.2}"},
		{TTL: 1, Compose: "messages", SharedByMembers: "{http.request.uri.path.2}", VaryQuery: []string{"after", "limit"}}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

// TestCacheOrderAfterEncode: in the adapted config chat_cache comes after
// encode (stores identity bodies) and before chat.
func TestCacheOrderAfterEncode(t *testing.T) {
	cfg := `{
	admin off
	chat {
		postgres postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable
		secret 0123456789abcdef0123
	}
}
:0 {
	chat
	chat_cache /api/rooms 1m {
		private
		storage memory
	}
	encode gzip
}`
	j, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(j)
	enc, cache, chat := strings.Index(s, `"handler":"encode"`), strings.Index(s, `"handler":"chat_cache"`), strings.Index(s, `"handler":"chat"`)
	if enc < 0 || cache < 0 || chat < 0 || !(enc < cache && cache < chat) {
		t.Fatalf("order encode %d, chat_cache %d, chat %d:\n%s", enc, cache, chat, s)
	}
	// Offline validate: storage redis without any Redis fails at Provision.
	var c caddy.Config
	if err := json.Unmarshal([]byte(strings.Replace(s, `"storage":"memory"`, `"storage":"redis"`, 1)), &c); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&c); err == nil || !strings.Contains(err.Error(), "storage redis needs") {
		t.Fatalf("validate with storage redis and no Redis: %v", err)
	}
}
