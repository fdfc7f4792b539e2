package caddymodule_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/chatcore/auth"
)

func TestAuthFlow(t *testing.T) {
	s := startServer(t, "")
	ann := s.register(t, "Ann")

	email := fmt.Sprintf("bob.%d@example.test", time.Now().UnixNano())
	r := s.call(t, "POST", "/api/auth/register", "", map[string]string{"name": "Bob", "email": email, "password": "hunter2hunter2"})
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	if r := s.call(t, "POST", "/api/auth/register", "", map[string]string{"name": "Bob2", "email": strings.ToUpper(email), "password": "hunter2hunter2"}); r.status != 409 || r.errCode(t) != "conflict" {
		t.Fatalf("duplicate email: %d %s", r.status, r.body)
	}

	r = s.call(t, "POST", "/api/auth/login", "", map[string]string{"email": email, "password": "hunter2hunter2"})
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	var login struct {
		User struct {
			ID          int64
			Name, Email string
		}
		Token string
	}
	r.decode(t, &login)
	if login.User.Name != "Bob" || login.User.Email != email || login.Token == "" {
		t.Fatalf("login answer %+v", login)
	}
	cookie := r.header.Get("Set-Cookie")
	for _, want := range []string{auth.CookieName + "=", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("cookie %q lacks %q", cookie, want)
		}
	}
	if r := s.call(t, "POST", "/api/auth/login", "", map[string]string{"email": email, "password": "wrong-password"}); r.status != 401 || r.errCode(t) != "unauthorized" {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	if r := s.call(t, "POST", "/api/auth/login", "", map[string]string{"email": "nobody@example.test", "password": "whatever1"}); r.status != 401 {
		t.Fatalf("unknown user: %d %s", r.status, r.body)
	}

	// The token works as a bearer header and as the cookie.
	if r := s.call(t, "GET", "/api/me", login.Token, nil); r.status != 200 || !strings.Contains(string(r.body), email) {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	jar := (&http.Cookie{Name: auth.CookieName, Value: login.Token}).String()
	if _, err := s.api("", chatclient.WithHeader(http.Header{"Cookie": {jar}})).Do(context.Background(), "GET", "/api/me", nil, nil); err != nil {
		t.Fatalf("me by cookie: %v", err)
	}

	// Public profile: no email.
	r = ann.call(t, "GET", fmt.Sprintf("/api/users/%d", login.User.ID), nil)
	if r.status != 200 || strings.Contains(string(r.body), "email") || !strings.Contains(string(r.body), `"name":"Bob"`) {
		t.Fatalf("user profile: %d %s", r.status, r.body)
	}
	if r := ann.call(t, "GET", "/api/users/999999999", nil); r.status != 404 || r.errCode(t) != "not_found" {
		t.Fatalf("unknown user: %d %s", r.status, r.body)
	}

	signer, err := auth.NewSigner([]byte(testSecret), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.NewSigner([]byte("some-other-secret-of-32-bytes!!!"), time.Hour)
	forged, _ := other.Issue(login.User.ID, "Bob")
	for name, tok := range map[string]string{
		"none":    "",
		"garbage": "not-a-token",
		"forged":  forged,
		"expired": signer.IssueUntil(login.User.ID, "Bob", time.Now().Add(-time.Minute)),
	} {
		if r := s.call(t, "GET", "/api/me", tok, nil); r.status != 401 || r.errCode(t) != "unauthorized" {
			t.Errorf("%s token: %d %s", name, r.status, r.body)
		}
	}
}

func TestAuthBadInput(t *testing.T) {
	s := startServer(t, "")
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"malformed JSON", `{"name":`, 400, "bad_request"},
		{"empty body", ``, 400, "bad_request"},
		{"trailing data", `{"name":"a","email":"a@b.c","password":"12345678"} x`, 400, "bad_request"},
		{"no name", `{"email":"x@example.test","password":"12345678"}`, 400, "bad_request"},
		{"bad email", `{"name":"x","email":"not-an-email","password":"12345678"}`, 400, "bad_request"},
		{"short password", `{"name":"x","email":"x@example.test","password":"short"}`, 400, "bad_request"},
		{"oversize", `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "too_large"},
	}
	for _, c := range cases {
		r := s.raw(t, "POST", "/api/auth/register", "", strings.NewReader(c.body))
		if r.status != c.status || r.errCode(t) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
		}
	}
	if r := s.call(t, "GET", "/api/nope", "", nil); r.status != 404 || r.errCode(t) != "not_found" {
		t.Errorf("unknown route: %d %s", r.status, r.body)
	}
	if r := s.call(t, "DELETE", "/api/rooms", "", nil); r.status != 405 {
		t.Errorf("wrong method: %d %s", r.status, r.body)
	}
	// The server still serves after all that.
	if r := s.call(t, "GET", "/healthz", "", nil); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
	// Requests outside the chat routes reach the next handler.
	if r := s.call(t, "GET", "/index.html", "", nil); r.status != 200 || string(r.body) != "static" {
		t.Fatalf("static: %d %q", r.status, r.body)
	}
}

func TestRoomsAndMembership(t *testing.T) {
	s := startServer(t, "")
	ann, bob, cat := s.register(t, "Ann"), s.register(t, "Bob"), s.register(t, "Cat")

	pub := ann.createRoom(t, "lobby", false)
	priv := ann.createRoom(t, "secret plans", true)

	type roomInfo struct {
		ID           int64
		Name         string
		IsPrivate    bool  `json:"is_private"`
		MemberCount  int64 `json:"member_count"`
		MessageCount int64 `json:"message_count"`
		LastSeq      int64 `json:"last_seq"`
		Joined       bool
	}
	list := func(c *client) map[int64]roomInfo {
		r := c.call(t, "GET", "/api/rooms", nil)
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		var out struct{ Rooms []roomInfo }
		r.decode(t, &out)
		m := map[int64]roomInfo{}
		for _, ri := range out.Rooms {
			m[ri.ID] = ri
		}
		return m
	}

	bl := list(bob)
	if ri, ok := bl[pub]; !ok || ri.Joined || ri.MemberCount != 1 {
		t.Fatalf("bob sees lobby as %+v (present %v)", ri, ok)
	}
	if _, ok := bl[priv]; ok {
		t.Fatal("bob sees the private room in the list")
	}
	bob.join(t, pub)
	bob.join(t, pub) // idempotent
	if ri := list(bob)[pub]; !ri.Joined || ri.MemberCount != 2 {
		t.Fatalf("after join: %+v", ri)
	}

	r := bob.call(t, "GET", fmt.Sprintf("/api/rooms/%d/members", pub), nil)
	var members struct {
		Members []struct {
			ID   int64
			Name string
			Role string
		}
	}
	r.decode(t, &members)
	if len(members.Members) != 2 || members.Members[0].ID != ann.id || members.Members[0].Role != "owner" || members.Members[1].Name != "Bob" {
		t.Fatalf("members: %s", r.body)
	}

	// Private room: invisible and closed to outsiders, open by invitation.
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/rooms/%d"}, {"POST", "/api/rooms/%d/join"}, {"GET", "/api/rooms/%d/members"},
		{"GET", "/api/rooms/%d/messages"}, {"POST", "/api/rooms/%d/messages"},
	} {
		var body any
		if c.path == "/api/rooms/%d/messages" && c.method == "POST" {
			body = map[string]string{"body": "let me in", "cid": "x"}
		}
		r := bob.call(t, c.method, fmt.Sprintf(c.path, priv), body)
		if r.status != 403 || r.errCode(t) != "forbidden" {
			t.Errorf("outsider %s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	if r := bob.call(t, "POST", fmt.Sprintf("/api/rooms/%d/members", priv), map[string]int64{"user_id": bob.id}); r.status != 403 {
		t.Errorf("outsider invites himself: %d %s", r.status, r.body)
	}
	if r := ann.call(t, "POST", fmt.Sprintf("/api/rooms/%d/members", priv), map[string]int64{"user_id": 999999999}); r.status != 404 {
		t.Errorf("invite unknown user: %d %s", r.status, r.body)
	}
	if r := ann.call(t, "POST", fmt.Sprintf("/api/rooms/%d/members", priv), map[string]int64{"user_id": bob.id}); r.status != 200 {
		t.Fatalf("invite: %d %s", r.status, r.body)
	}
	if ri, ok := list(bob)[priv]; !ok || !ri.Joined || !ri.IsPrivate || ri.MemberCount != 2 {
		t.Fatalf("invited bob sees %+v (present %v)", ri, ok)
	}
	if _, ok := list(cat)[priv]; ok {
		t.Fatal("cat sees the private room")
	}
	if r := bob.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", priv), map[string]string{"body": "thanks", "cid": "b1"}); r.status != 201 {
		t.Fatalf("member posts: %d %s", r.status, r.body)
	}
	r = ann.call(t, "GET", fmt.Sprintf("/api/rooms/%d", priv), nil)
	var info roomInfo
	r.decode(t, &info)
	if info.MessageCount != 1 || info.LastSeq != 1 || info.MemberCount != 2 || info.Name != "secret plans" {
		t.Fatalf("room info %s", r.body)
	}

	// Leaving closes the room again.
	r = bob.call(t, "POST", fmt.Sprintf("/api/rooms/%d/leave", priv), nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"joined":false`) {
		t.Fatalf("leave: %d %s", r.status, r.body)
	}
	if r := bob.call(t, "GET", fmt.Sprintf("/api/rooms/%d/messages", priv), nil); r.status != 403 {
		t.Fatalf("after leave: %d %s", r.status, r.body)
	}

	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/api/rooms/999999999", 404, "not_found"},
		{"/api/rooms/999999999/messages", 404, "not_found"},
		{"/api/rooms/abc", 400, "bad_request"},
		{"/api/rooms/-3/members", 400, "bad_request"},
	} {
		if r := cat.call(t, "GET", c.path, nil); r.status != c.status || r.errCode(t) != c.code {
			t.Errorf("GET %s: %d %s", c.path, r.status, r.body)
		}
	}
	for _, body := range []string{`{"name":""}`, `{"name":"` + strings.Repeat("n", 101) + `"}`, `{"name":1}`} {
		if r := s.raw(t, "POST", "/api/rooms", cat.token, strings.NewReader(body)); r.status != 400 {
			t.Errorf("create room %s: %d %s", body, r.status, r.body)
		}
	}
}

func TestMessagesREST(t *testing.T) {
	s := startServer(t, "")
	ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
	room := ann.createRoom(t, "history", false)
	bob.join(t, room)
	path := fmt.Sprintf("/api/rooms/%d/messages", room)

	type msg struct {
		Room int64
		Seq  int64
		User struct {
			ID   int64
			Name string
		}
		Body, CID, TS string
	}
	for i := 1; i <= 7; i++ {
		c := ann
		if i%2 == 0 {
			c = bob
		}
		r := c.call(t, "POST", path, map[string]string{"body": fmt.Sprintf("m%d", i), "cid": fmt.Sprintf("%s-%d", c.name, i)})
		if r.status != 201 {
			t.Fatalf("post %d: %d %s", i, r.status, r.body)
		}
		var m msg
		r.decode(t, &m)
		if m.Seq != int64(i) || m.Room != room || m.User.ID != c.id || m.User.Name != c.name || m.Body != fmt.Sprintf("m%d", i) {
			t.Fatalf("post %d answered %s", i, r.body)
		}
		ts, err := time.Parse(time.RFC3339Nano, m.TS)
		if err != nil || !strings.HasSuffix(m.TS, "Z") || !strings.Contains(m.TS, ".") || time.Since(ts) > time.Minute {
			t.Fatalf("ts %q: %v", m.TS, err)
		}
	}

	// Resending a cid stores nothing new and answers the original.
	r := ann.call(t, "POST", path, map[string]string{"body": "m1", "cid": "Ann-1"})
	var dup msg
	r.decode(t, &dup)
	if r.status != 200 || dup.Seq != 1 {
		t.Fatalf("resend: %d %s", r.status, r.body)
	}
	if r := ann.call(t, "POST", path, map[string]string{"body": "something else", "cid": "Ann-1"}); r.status != 409 || r.errCode(t) != "conflict" {
		t.Fatalf("cid reuse: %d %s", r.status, r.body)
	}

	page := func(query string) ([]int64, bool) {
		r := bob.call(t, "GET", path+query, nil)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", query, r.status, r.body)
		}
		var out struct {
			Messages []msg
			HasMore  bool `json:"has_more"`
		}
		r.decode(t, &out)
		var seqs []int64
		for _, m := range out.Messages {
			seqs = append(seqs, m.Seq)
		}
		return seqs, out.HasMore
	}
	check := func(query string, want []int64, wantMore bool) {
		t.Helper()
		got, more := page(query)
		if fmt.Sprint(got) != fmt.Sprint(want) || more != wantMore {
			t.Errorf("%s: %v more=%v, want %v more=%v", query, got, more, want, wantMore)
		}
	}
	check("", []int64{7, 6, 5, 4, 3, 2, 1}, false)
	check("?limit=3", []int64{7, 6, 5}, true)
	check("?before=5&limit=3", []int64{4, 3, 2}, true)
	check("?before=4&limit=3", []int64{3, 2, 1}, false)
	check("?before=1", nil, false)
	check("?before=100&limit=1", []int64{7}, true)
	check("?after=0&limit=3", []int64{1, 2, 3}, true)
	check("?after=4&limit=3", []int64{5, 6, 7}, false)
	check("?after=7", nil, false)
	check("?limit=200", []int64{7, 6, 5, 4, 3, 2, 1}, false)

	for _, q := range []string{"?limit=0", "?limit=201", "?limit=x", "?before=-1", "?after=abc", "?before=3&after=1"} {
		if r := bob.call(t, "GET", path+q, nil); r.status != 400 || r.errCode(t) != "bad_request" {
			t.Errorf("GET %s: %d %s", q, r.status, r.body)
		}
	}
	bad := []struct {
		name, body string
		status     int
		code       string
	}{
		{"empty body", `{"body":"","cid":"e1"}`, 400, "bad_request"},
		{"blank body", `{"body":"   ","cid":"e2"}`, 400, "bad_request"},
		{"too long", `{"body":"` + strings.Repeat("a", 4097) + `","cid":"e3"}`, 413, "too_large"},
		{"malformed", `{"body":`, 400, "bad_request"},
		{"wrong type", `{"body":5}`, 400, "bad_request"},
		{"huge cid", `{"body":"x","cid":"` + strings.Repeat("c", 200) + `"}`, 400, "bad_request"},
	}
	for _, c := range bad {
		if r := s.raw(t, "POST", path, ann.token, strings.NewReader(c.body)); r.status != c.status || r.errCode(t) != c.code {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	// A body of exactly the limit is fine; nothing above was stored.
	if r := ann.call(t, "POST", path, map[string]string{"body": strings.Repeat("é", 2048), "cid": "max"}); r.status != 201 {
		t.Fatalf("max body: %d %s", r.status, r.body)
	}
	if got, _ := page("?limit=1"); fmt.Sprint(got) != "[8]" {
		t.Fatalf("after bad input the newest is %v, want [8]", got)
	}

	// Unread marks.
	if r := bob.call(t, "POST", fmt.Sprintf("/api/rooms/%d/read", room), map[string]int64{"seq": 5}); r.status != 200 {
		t.Fatalf("mark read: %d %s", r.status, r.body)
	}
	r = bob.call(t, "GET", "/api/rooms", nil)
	if !strings.Contains(string(r.body), `"last_read_seq":5`) {
		t.Fatalf("rooms after mark read: %s", r.body)
	}
}
