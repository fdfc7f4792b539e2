package caddymodule_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"
)

// TestOpenAPI drives a realistic session through the real binary on the
// shipped Caddyfile and validates every request and every response
// against docs/openapi.yaml (OpenAPI 3.1) with libopenapi-validator:
// statuses, headers and bodies (JSON Schema 2020-12). Requests that are
// bad on purpose (the error cases) are not checked against the spec,
// their answers are; so are the spec's own rules (ValidateDocument).
func TestOpenAPI(t *testing.T) {
	spec, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("docs/openapi.yaml is OpenAPI %s, want 3.1.0", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document:\n%s", describe(verrs))
	}

	s := startPeopleCluster(t, "chatgate_test_openapi", 1, "CHATGATE_USER_SEARCH_RATE=1/s 8", "CHATGATE_USER_SEND_RATE=off")[0]
	o := &oas{t: t, v: v, base: s.base, seen: map[string]bool{}}

	// Health.
	o.do("GET", "/healthz", "", nil, 200)
	o.do("GET", "/readyz", "", nil, 200)

	// Auth.
	stamp := time.Now().UnixNano()
	reg := func(name string) (string, int64) {
		var a struct {
			User  struct{ ID int64 }
			Token string
		}
		o.do("POST", "/api/auth/register", "", map[string]string{"name": name, "email": fmt.Sprintf("%s.%d@example.test", strings.ToLower(name), stamp), "password": "password-" + name}, 201).decode(t, &a)
		return a.Token, a.User.ID
	}
	ann, annID := reg("Ann")
	bob, bobID := reg("Bob")
	carl, _ := reg("Carl")
	o.do("POST", "/api/auth/login", "", map[string]string{"email": fmt.Sprintf("ann.%d@example.test", stamp), "password": "password-Ann"}, 200)
	o.bad("POST", "/api/auth/login", "", map[string]string{"email": fmt.Sprintf("ann.%d@example.test", stamp), "password": "wrong-password"}, 401)
	o.bad("POST", "/api/auth/register", "", map[string]string{"name": "Ann2", "email": fmt.Sprintf("ann.%d@example.test", stamp), "password": "password-x"}, 409)
	o.bad("POST", "/api/auth/register", "", map[string]string{"name": "", "email": "x@example.test", "password": "password-x"}, 400)
	o.do("POST", "/api/auth/logout", "", nil, 200)

	// Users and the directory.
	o.do("GET", "/api/me", ann, nil, 200)
	o.do("GET", fmt.Sprintf("/api/users/%d", bobID), ann, nil, 200)
	o.bad("GET", "/api/users/999999999", ann, nil, 404)
	o.bad("GET", "/api/users/abc", ann, nil, 400)
	o.bad("GET", "/api/me", "", nil, 401)
	reg2(o, "Abe", stamp)
	var page struct{ Next string }
	o.do("GET", "/api/users?q=a&limit=1", ann, nil, 200).decode(t, &page)
	if page.Next == "" {
		t.Fatal("q=a&limit=1 has no next page (Abe and Ann match)")
	}
	o.do("GET", "/api/users?q=a&limit=1&cursor="+page.Next, ann, nil, 200)
	o.bad("GET", "/api/users?q=", ann, nil, 400)
	o.bad("GET", "/api/users?q=a&limit=500", ann, nil, 400)

	// Rooms.
	var room struct{ ID int64 }
	o.do("POST", "/api/rooms", ann, map[string]any{"name": "general", "is_private": false}, 201).decode(t, &room)
	var secret struct{ ID int64 }
	o.do("POST", "/api/rooms", ann, map[string]any{"name": "secret", "is_private": true}, 201).decode(t, &secret)
	r := fmt.Sprintf("/api/rooms/%d", room.ID)
	sr := fmt.Sprintf("/api/rooms/%d", secret.ID)
	o.do("GET", "/api/rooms", ann, nil, 200)
	o.do("GET", r, bob, nil, 200)
	o.do("POST", r+"/join", bob, nil, 200)
	o.do("GET", r+"/members", bob, nil, 200)
	o.do("POST", sr+"/members", ann, map[string]any{"user_id": bobID}, 200)
	o.do("POST", sr+"/members", ann, map[string]any{"name": "carl"}, 200)
	o.do("GET", sr, carl, nil, 200)
	o.bad("GET", sr, "", nil, 401)
	o.do("PATCH", r, ann, map[string]any{"name": "lobby", "topic": "say hi"}, 200)
	o.do("PATCH", r, ann, map[string]any{"topic": ""}, 200)

	// Messages: enough for three pages.
	for i := 1; i <= 120; i++ {
		o.quiet = i > 2
		o.do("POST", r+"/messages", bob, map[string]any{"body": fmt.Sprint("message ", i), "cid": fmt.Sprint("oas-", stamp, "-", i)}, 201)
	}
	o.quiet = false
	o.do("POST", r+"/messages", bob, map[string]any{"body": "message 1", "cid": fmt.Sprint("oas-", stamp, "-1")}, 200)
	o.do("POST", r+"/messages", bob, map[string]any{"body": "no cid"}, 201)
	var hist struct {
		Messages []struct{ Seq int64 }
		HasMore  bool `json:"has_more"`
	}
	o.do("GET", r+"/messages", bob, nil, 200).decode(t, &hist)
	if !hist.HasMore || len(hist.Messages) != 50 {
		t.Fatalf("newest page: %d messages, has_more %v", len(hist.Messages), hist.HasMore)
	}
	o.do("GET", fmt.Sprintf("%s/messages?before=%d&limit=50", r, hist.Messages[49].Seq), bob, nil, 200)
	o.do("GET", r+"/messages?before=51&limit=50", ann, nil, 200)
	o.do("GET", r+"/messages?after=100&limit=200", ann, nil, 200)
	o.do("POST", r+"/read", bob, map[string]any{"seq": 100}, 200)
	o.do("GET", "/api/rooms", bob, nil, 200)
	o.do("GET", r+"/presence", bob, nil, 200)

	// Room events, files, search.
	o.do("PATCH", r+"/messages/2", bob, map[string]any{"body": "message 2, edited", "cid": fmt.Sprint("oas-edit-", stamp)}, 200)
	o.do("PUT", r+"/messages/2/reactions/%F0%9F%91%8D", ann, nil, 200)
	o.do("PUT", r+"/messages/4/reactions/:tada:", ann, nil, 200)
	o.do("DELETE", r+"/messages/2/reactions/%F0%9F%91%8D", ann, nil, 200)
	o.do("DELETE", r+"/messages/3", bob, nil, 200)
	o.bad("PATCH", r+"/messages/4", ann, map[string]any{"body": "not mine"}, 403)
	var file struct{ ID int64 }
	o.check("POST", r+"/files?name=notes.txt", bob, "application/octet-stream", []byte("plain text notes\n"), 201, true).decode(t, &file)
	o.do("POST", r+"/messages", bob, map[string]any{"body": "see the file", "files": []int64{file.ID}}, 201)
	o.do("GET", fmt.Sprintf("%s/files/%d", r, file.ID), ann, nil, 200)
	o.do("GET", r+"/messages?after=0&limit=10", ann, nil, 200)
	o.do("GET", "/api/search?q=message&limit=5", bob, nil, 200)
	o.bad("GET", "/api/search?q=", bob, nil, 400)

	// Direct messages.
	o.do("POST", "/api/dms", ann, map[string]any{"user_id": bobID}, 201)
	o.do("POST", "/api/dms", bob, map[string]any{"name": "ann"}, 200)
	o.do("GET", "/api/dms", ann, nil, 200)
	o.do("GET", "/api/rooms", bob, nil, 200)
	o.bad("POST", "/api/dms", ann, map[string]any{"user_id": annID}, 400)
	o.bad("POST", "/api/dms", ann, map[string]any{"user_id": 999999999}, 404)

	// Error cases, each with its documented answer.
	o.bad("GET", "/api/rooms/abc", ann, nil, 400)
	o.bad("GET", "/api/rooms/999999999", ann, nil, 404)
	o.bad("GET", sr+"/messages", reg2(o, "Dora", stamp), nil, 403)
	o.bad("POST", r+"/messages", bob, map[string]any{"body": "x", "cid": fmt.Sprint("oas-", stamp, "-5")}, 409)
	o.bad("POST", r+"/messages", ann, map[string]any{"body": strings.Repeat("x", 5000)}, 413)
	o.bad("POST", r+"/messages", ann, []byte(`{"body":"a","body":"b"}`), 400)
	o.bad("GET", r+"/messages?before=5&after=2", ann, nil, 400)
	o.bad("PATCH", r, bob, map[string]any{"name": "mine"}, 403)
	o.bad("DELETE", r, bob, nil, 403)
	o.bad("PATCH", r, ann, map[string]any{}, 400)
	o.bad("DELETE", fmt.Sprintf("%s/members/%d", r, annID), ann, nil, 400)
	o.bad("POST", r+"/members", ann, map[string]any{"user_id": 999999999}, 404)
	o.raw("POST", "/api/rooms", ann, "text/plain", []byte(`{"name":"x"}`), 415)
	for i := 0; i < 20; i++ {
		if o.try("GET", fmt.Sprintf("/api/users?q=z%d", i), carl, nil).status == 429 {
			break
		}
		if i == 19 {
			t.Fatal("the directory never answered 429")
		}
	}

	// Removal, leave, delete.
	o.do("DELETE", fmt.Sprintf("%s/members/%d", sr, bobID), ann, nil, 200)
	o.do("POST", r+"/leave", bob, nil, 200)
	o.do("DELETE", r, ann, nil, 200)
	o.bad("GET", r, ann, nil, 404)

	// Sessions: a password change answers like a login, a wrong current
	// password is 403, and signing out everywhere ends the new token too.
	sess := reg2(o, "Sessions", stamp)
	o.bad("POST", "/api/auth/password", sess, map[string]string{"password": "wrong-password", "new_password": "password-Sessions-2"}, 403)
	o.bad("POST", "/api/auth/password", sess, map[string]string{"password": "password-Sessions", "new_password": "short"}, 400)
	var changed struct{ Token string }
	o.do("POST", "/api/auth/password", sess, map[string]string{"password": "password-Sessions", "new_password": "password-Sessions-2"}, 200).decode(t, &changed)
	o.bad("GET", "/api/me", sess, nil, 401)
	o.do("POST", "/api/auth/sessions/end", changed.Token, map[string]any{}, 200)
	o.bad("POST", "/api/auth/sessions/end", changed.Token, map[string]any{}, 401)

	// Every documented operation was exercised, except the WebSocket.
	for path, item := range (*doc.GetSpecInfo().SpecJSON)["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			op := strings.ToUpper(method) + " " + path
			if method == "parameters" || path == "/ws" {
				continue
			}
			if !o.seen[op] {
				t.Errorf("%s is documented but the test never called it", op)
			}
		}
	}
}

// reg2 registers one more user and returns the token.
func reg2(o *oas, name string, stamp int64) string {
	var a struct{ Token string }
	o.do("POST", "/api/auth/register", "", map[string]string{"name": name, "email": fmt.Sprintf("%s.%d@example.test", strings.ToLower(name), stamp), "password": "password-" + name}, 201).decode(o.t, &a)
	return a.Token
}

type oas struct {
	t     *testing.T
	v     validator.Validator
	base  string
	seen  map[string]bool // "METHOD /templated/path" answered and validated
	quiet bool
}

// do sends a request the spec allows and validates both it and the
// answer, which must have status want.
func (o *oas) do(method, path, token string, body any, want int) reply {
	o.t.Helper()
	return o.check(method, path, token, "application/json", body, want, true)
}

// bad sends a request that is wrong on purpose; only its answer is
// validated.
func (o *oas) bad(method, path, token string, body any, want int) reply {
	o.t.Helper()
	return o.check(method, path, token, "application/json", body, want, false)
}

func (o *oas) raw(method, path, token, ctype string, body []byte, want int) reply {
	o.t.Helper()
	return o.check(method, path, token, ctype, body, want, false)
}

// try sends a valid request and validates the answer, whatever its status.
func (o *oas) try(method, path, token string, body any) reply {
	o.t.Helper()
	return o.check(method, path, token, "application/json", body, 0, true)
}

func (o *oas) check(method, path, token, ctype string, body any, want int, validRequest bool) reply {
	o.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			o.t.Fatal(err)
		}
	}
	newReq := func() *http.Request {
		req, err := http.NewRequest(method, o.base+path, bytes.NewReader(raw))
		if err != nil {
			o.t.Fatal(err)
		}
		if raw != nil {
			req.Header.Set("Content-Type", ctype)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return req
	}
	resp, err := http.DefaultClient.Do(newReq())
	if err != nil {
		o.t.Fatalf("%s %s: %v", method, path, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		o.t.Fatalf("%s %s: %v", method, path, err)
	}
	if want != 0 && resp.StatusCode != want {
		o.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, got, want)
	}
	req := newReq()
	if validRequest {
		if ok, errs := o.v.ValidateHttpRequest(req); !ok {
			o.t.Fatalf("%s %s: the request does not match docs/openapi.yaml:\n%s", method, path, describe(errs))
		}
		req = newReq()
	}
	resp.Body = io.NopCloser(bytes.NewReader(got))
	if ok, errs := o.v.ValidateHttpResponse(req, resp); !ok {
		o.t.Fatalf("%s %s: the %d answer does not match docs/openapi.yaml:\n%s\nbody: %s", method, path, resp.StatusCode, describe(errs), got)
	}
	if validRequest && resp.StatusCode < 300 {
		o.seen[method+" "+template(path)] = true
	}
	if !o.quiet {
		o.t.Logf("%s %s -> %d valid", method, path, resp.StatusCode)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: got}
}

// template turns a concrete path into the spec's template.
func template(path string) string {
	path, _, _ = strings.Cut(path, "?")
	parts := strings.Split(path, "/")
	for i := 1; i < len(parts); i++ {
		p, prev := parts[i], parts[i-1]
		switch {
		case prev == "reactions":
			parts[i] = "{emoji}"
		case p == "" || strings.Trim(p, "0123456789") != "":
		case prev == "members":
			parts[i] = "{user}"
		case prev == "messages":
			parts[i] = "{seq}"
		case prev == "files":
			parts[i] = "{file}"
		default:
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "- %s: %s", e.Message, e.Reason)
		for _, se := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n    %s at %s (%s)", se.Reason, se.FieldPath, se.KeywordLocation)
		}
		b.WriteString("\n")
	}
	return b.String()
}
