package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// Sending a message: the one use case both transports call. Its steps, in
// this order for both:
//
//  1. size: the body is not empty nor over MaxBody bytes, the cid not over
//     128 bytes (checkText);
//  2. text: body and cid are valid UTF-8 without NUL (checkText);
//  3. rate: first the transport's own bucket, then the user's bucket, shared
//     by their connections, REST and every instance (allowUserSend,
//     guard.go). The WebSocket's own bucket is its connection's, kept in the
//     session (session.allowSend, ws_session.go: a run of refusals closes with
//     4429); REST has none of its own (the per-address and per-user request
//     limits ran before its handler);
//  4. membership: authorize (authz.go); then, only for a message with
//     files, that they may be attached (attachable, send_files.go);
//  5. submit to the batcher, whose answer result checks: a cid already used
//     for a different body or room is a conflict, the same message again an
//     idempotent success.
//
// The WebSocket adapter (session.send) calls sendAsync and acks from the
// callback; the REST adapter (postMessage) calls sendSync, which also waits
// for the room's cache invalidation (invalidate.go), so a GET after the 201
// never gets the page from before the message.

// outgoing is one message as a transport hands it over.
type outgoing struct {
	room      int64
	who       auth.Claims
	body, cid string
	files     []int64         // ids named by the client
	attached  []chatcore.File // their metadata, once admitted
}

func (m *outgoing) request() store.SendRequest {
	return store.SendRequest{Room: m.room, UserID: m.who.UserID, UserName: m.who.Name, Body: m.body, CID: m.cid, Files: m.attached,
		Mentions: mentionNames(m.body)}
}

// sender is what the use case needs of the gateway, made per send by
// API.sender (tests make their own).
type sender struct {
	maxBody int
	limits  interface {
		allowUserSend(ctx context.Context, user int64) bool // *API, guard.go
	}
	members interface {
		authorize(ctx context.Context, room int64, who auth.Claims) error // *API, authz.go
	}
	files interface {
		attachable(ctx context.Context, room int64, who auth.Claims, ids []int64, cid string) ([]chatcore.File, error) // *API, send_files.go
	}
	batcher interface {
		Submit(req store.SendRequest, done func(store.SendResult)) error // *store.Batcher
	}
	caches interface {
		// visible is closed once room's caches are invalidated for a
		// message of seq or later. Call it from the batcher's done
		// callback, which runs before the commit callback marks the room.
		visible(room, seq int64) <-chan struct{} // *Core, invalidate.go
	}
	received prometheus.Counter
}

func (a *API) sender() sender {
	return sender{maxBody: a.cfg.MaxBody, limits: a, members: a, files: a, batcher: a.core.Batcher, caches: a.core, received: a.core.Metrics.Received}
}

var errUserSendRate = errf(http.StatusTooManyRequests, wire.CodeRateLimited, "too many messages from this user, slow down")

// admit runs steps 1 to 4. own is the transport's own bucket (nil: none);
// its error is returned as is.
func (s sender) admit(ctx context.Context, m *outgoing, own func() error) error {
	if ae := checkText(m.body, m.cid, s.maxBody, len(m.files) > 0); ae != nil {
		return ae
	}
	if own != nil {
		if err := own(); err != nil {
			return err
		}
	}
	if !s.limits.allowUserSend(ctx, m.who.UserID) {
		return errUserSendRate
	}
	if err := s.members.authorize(ctx, m.room, m.who); err != nil {
		return err
	}
	if len(m.files) > 0 {
		var err error
		if m.attached, err = s.files.attachable(ctx, m.room, m.who, m.files, m.cid); err != nil {
			return err
		}
	}
	s.received.Inc()
	return nil
}

// checkText is steps 1 and 2: sizes first, then the text itself. A
// message with files may have an empty body.
func checkText(body, cid string, maxBody int, files bool) *apiError {
	switch {
	case len(body) > maxBody:
		return errf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "body is over "+strconv.Itoa(maxBody)+" bytes")
	case strings.TrimSpace(body) == "" && !files:
		return badRequest("body must not be empty")
	case len(cid) > 128:
		return badRequest("cid must be at most 128 bytes of UTF-8")
	case !utf8.ValidString(body) || strings.ContainsRune(body, 0):
		return badRequest("body must be valid UTF-8 without NUL")
	case !utf8.ValidString(cid) || strings.ContainsRune(cid, 0):
		return badRequest("cid must be at most 128 bytes of UTF-8")
	}
	return nil
}

// sendAsync is the WebSocket's send: admit, then submit. done gets the
// checked answer on a flusher goroutine; when sendAsync returns an error,
// done is never called.
func (s sender) sendAsync(ctx context.Context, m outgoing, own func() error, done func(store.SendResult, error)) error {
	if err := s.admit(ctx, &m, own); err != nil {
		return err
	}
	return s.batcher.Submit(m.request(), func(res store.SendResult) { done(result(res, m.room, m.body)) })
}

// sendSync is REST's send: admit, submit, wait for the answer and, for a
// new message, for its room's cache invalidation (bounded by ctx: the
// message is stored either way).
func (s sender) sendSync(ctx context.Context, m outgoing) (store.SendResult, error) {
	if err := s.admit(ctx, &m, nil); err != nil {
		return store.SendResult{}, err
	}
	ch := make(chan answer[store.SendResult], 1)
	err := s.batcher.Submit(m.request(), func(res store.SendResult) {
		var a answer[store.SendResult]
		a.res, a.err = result(res, m.room, m.body)
		if a.err == nil && !a.res.Duplicate {
			a.visible = s.caches.visible(m.room, a.res.Msg.Seq)
		}
		ch <- a
	})
	if err != nil {
		return store.SendResult{}, err
	}
	return await(ctx, ch)
}

// answer is a batcher's checked answer to a REST write, with the channel
// closed once its room's caches are invalidated (nil: nothing new stored).
type answer[T any] struct {
	res     T
	err     error
	visible <-chan struct{}
}

// await waits for a REST write's answer, then for its invalidation
// (bounded by ctx: the write is stored either way).
func await[T any](ctx context.Context, ch <-chan answer[T]) (T, error) {
	select {
	case a := <-ch:
		if a.visible != nil {
			select {
			case <-a.visible:
			case <-ctx.Done():
			}
		}
		return a.res, a.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("store: write: %w", ctx.Err())
	}
}

// result checks a batcher answer: a cid reused for a different message is
// a conflict, the same message again is an idempotent success.
func result(res store.SendResult, room int64, body string) (store.SendResult, error) {
	if errors.Is(res.Err, store.ErrFileTaken) {
		return res, errFileAttached("a file of this message")
	}
	if res.Err != nil {
		return res, res.Err
	}
	if res.Duplicate && (res.Msg.Kind != chatcore.KindMessage || res.Msg.Room != room || res.Msg.Body != body) {
		return res, errf(http.StatusConflict, wire.CodeConflict, "cid already used for a different message")
	}
	return res, nil
}

// errClosing is a transport's own bucket refusing after it closed the
// connection: nothing more to answer.
var errClosing = errors.New("gateway: connection closing")
