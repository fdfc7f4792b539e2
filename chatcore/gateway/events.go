package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// Room events (edit, delete, react, unreact): the one use case both
// transports call, in the steps of a send (send.go) and in the same order:
//
//  1. size and text: the target seq is positive, an edit's body passes
//     checkText, an emoji checkEmoji, the cid is at most 128 bytes;
//  2. rate: the transport's own send bucket, then the user's (an event is
//     a write like a message);
//  3. membership: authorize;
//  4. submit to the batcher, whose transaction checks the rest under the
//     target's row lock (it exists and is a message; the author edits; the
//     author or the owner deletes; the edit window; the reaction bound) and
//     answers a repeated cid with the stored event.

// maxEmoji bounds a reaction's emoji in bytes: a family with skin tones
// is 41.
const maxEmoji = 64

// roomEvent is one event as a transport hands it over.
type roomEvent struct {
	room   int64
	who    auth.Claims
	kind   chatcore.Kind
	target int64
	body   string // an edit's text, a reaction's emoji
	cid    string
}

func (a *API) eventRequest(e *roomEvent) store.EventRequest {
	return store.EventRequest{
		Room: e.room, UserID: e.who.UserID, UserName: e.who.Name, Kind: e.kind, Target: e.target,
		Body: e.body, CID: e.cid, EditWindow: a.cfg.EditWindow, MaxReactions: a.cfg.MaxReactions,
	}
}

// admitEvent runs steps 1 to 3.
func (a *API) admitEvent(ctx context.Context, e *roomEvent, own func() error) error {
	if e.target <= 0 {
		return badRequest("seq must be a positive integer (the message's)")
	}
	switch e.kind {
	case chatcore.KindEdit:
		if ae := checkText(e.body, e.cid, a.cfg.MaxBody, false); ae != nil {
			return ae
		}
	case chatcore.KindReact, chatcore.KindUnreact:
		if ae := checkEmoji(e.body); ae != nil {
			return ae
		}
		fallthrough
	default:
		if ae := checkText("-", e.cid, a.cfg.MaxBody, false); ae != nil {
			return ae
		}
	}
	if own != nil {
		if err := own(); err != nil {
			return err
		}
	}
	if !a.allowUserSend(ctx, e.who.UserID) {
		return errUserSendRate
	}
	return a.authorize(ctx, e.room, e.who)
}

// checkEmoji accepts one emoji (a sequence of pictographs with their
// modifiers, joiners, variation selectors and keycaps) or a shortcode
// such as :party_parrot:, up to maxEmoji bytes.
func checkEmoji(s string) *apiError {
	switch {
	case s == "":
		return badRequest("emoji must not be empty")
	case len(s) > maxEmoji:
		return errf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "emoji is over "+strconv.Itoa(maxEmoji)+" bytes")
	case !utf8.ValidString(s):
		return badRequest("emoji must be valid UTF-8")
	}
	if len(s) > 2 && s[0] == ':' && s[len(s)-1] == ':' {
		for _, r := range s[1 : len(s)-1] {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '+' || r == '-') {
				return badRequest("emoji shortcode must be :[a-z0-9_+-]+:")
			}
		}
		return nil
	}
	pictograph := false
	keycap := strings.ContainsRune(s, '\u20E3')
	for _, r := range s {
		switch {
		case unicode.Is(unicode.So, r) || unicode.Is(unicode.Sk, r) && r > 0x7f:
			pictograph = true
		case r == '\u200D', r == '\uFE0F', r == '\uFE0E', r == '\u20E3',
			r >= 0x1F3FB && r <= 0x1F3FF, // skin tones
			r >= 0xE0020 && r <= 0xE007F: // tag sequences (flags of regions)
		case keycap && (r >= '0' && r <= '9' || r == '#' || r == '*'):
			pictograph = true
		default:
			return badRequest("emoji must be one emoji or a :shortcode:")
		}
	}
	if !pictograph {
		return badRequest("emoji must be one emoji or a :shortcode:")
	}
	return nil
}

// eventAsync is the WebSocket's event: admit, then submit; done gets the
// checked answer on a flusher goroutine (never called when eventAsync
// returns an error).
func (a *API) eventAsync(ctx context.Context, e roomEvent, own func() error, done func(store.EventResult, error)) error {
	if err := a.admitEvent(ctx, &e, own); err != nil {
		return err
	}
	a.core.Metrics.Received.Inc()
	return a.core.Batcher.SubmitEvent(a.eventRequest(&e), func(res store.EventResult) { done(res, eventErr(res.Err)) })
}

// eventSync is REST's: admit, submit, wait for the answer and, for a new
// event, for its room's cache invalidation, so a GET after it is fresh.
func (a *API) eventSync(ctx context.Context, e roomEvent) (store.EventResult, error) {
	if err := a.admitEvent(ctx, &e, nil); err != nil {
		return store.EventResult{}, err
	}
	a.core.Metrics.Received.Inc()
	ch := make(chan answer[store.EventResult], 1)
	err := a.core.Batcher.SubmitEvent(a.eventRequest(&e), func(res store.EventResult) {
		an := answer[store.EventResult]{res: res, err: eventErr(res.Err)}
		if res.Err == nil && !res.Duplicate && !res.Noop {
			an.visible = a.core.visible(e.room, res.Msg.Seq)
		}
		ch <- an
	})
	if err != nil {
		return store.EventResult{}, err
	}
	return await(ctx, ch)
}

// eventErr gives a refusal of the store its protocol code with its reason.
func eventErr(err error) error {
	var r *store.Refusal
	if !errors.As(err, &r) {
		return err
	}
	switch {
	case errors.Is(r.Err, chatcore.ErrNotFound):
		return errf(http.StatusNotFound, wire.CodeNotFound, r.Reason)
	case errors.Is(r.Err, chatcore.ErrForbidden):
		return errf(http.StatusForbidden, wire.CodeForbidden, r.Reason)
	case errors.Is(r.Err, chatcore.ErrConflict):
		return errf(http.StatusConflict, wire.CodeConflict, r.Reason)
	}
	return err
}

// eventAck is the WebSocket's answer to a stored (or repeated, or no-op)
// event.
func eventAck(cid string, e *roomEvent, res store.EventResult) wire.AckEvent {
	return wire.AckEvent{Type: wire.TypeAck, CID: cid, Room: e.room, Seq: res.Msg.Seq, Duplicate: res.Duplicate,
		Target: e.target, Noop: res.Noop}
}
