package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// Room events (edits, deletes, reactions) are rows of messages with a kind
// (migration 0005): each takes the room's next seq under the same rooms row
// lock as messages, so every reader of the stream (subscribe with since,
// ?after=, the hub's gap fill, the bus) carries them in order with no path
// of its own. They go through the batcher's queues, so a room's events and
// messages are committed by one flusher in queue order. Unlike messages they
// are committed one per transaction, after the flush's messages: each one
// reads and checks its target under a row lock (author, owner, edit window,
// deleted, the reaction set) and most are refused or no-ops for reasons only
// that read can tell, which a set-based statement would have to report per
// row. Events are rare next to messages; the message flush statement is
// untouched, so sends cost what they did.

// EventRequest is one event to store. The caller has checked membership,
// rate limits and sizes.
type EventRequest struct {
	Room     int64
	UserID   int64
	UserName string
	Kind     chatcore.Kind // KindEdit, KindDelete, KindReact, KindUnreact
	Target   int64         // the message's seq
	Body     string        // the edit's text, the reaction's emoji
	CID      string        // "" disables idempotency
	// EditWindow bounds how long after a message its author may edit it
	// (0: always). Deletes have no window.
	EditWindow time.Duration
	// MaxReactions bounds the distinct emoji on one message (0: no bound).
	MaxReactions int
}

// EventResult answers an EventRequest. Duplicate: (UserID, CID) was
// already stored for this same event, Msg is it. Noop: nothing changed
// (a reaction already there or already gone, a message already deleted),
// no seq was used and Msg is zero.
type EventResult struct {
	Msg       chatcore.Message
	Duplicate bool
	Noop      bool
	Err       error
}

// Refusal is an event refused for a reason the client should read: Err is
// the chatcore sentinel (ErrNotFound, ErrForbidden, ErrConflict), Reason
// the message.
type Refusal struct {
	Err    error
	Reason string
}

func (r *Refusal) Error() string { return r.Reason }
func (r *Refusal) Unwrap() error { return r.Err }

func refuse(sentinel error, reason string) error { return &Refusal{Err: sentinel, Reason: reason} }

// SubmitEvent queues req to its room's flusher without blocking; done is
// called once from the flusher. Errors as Submit's.
func (b *Batcher) SubmitEvent(req EventRequest, done func(EventResult)) error {
	if !validText(req.Body) || !validText(req.CID) {
		return ErrInvalidText
	}
	return b.enqueue(&pending{req: SendRequest{Room: req.Room, UserID: req.UserID, CID: req.CID}, ev: &req, evDone: done})
}

// splitEvents moves the batch's events to f.events, leaving the messages.
// It costs one pointer test per message.
func (f *flusher) splitEvents() {
	f.events = f.events[:0]
	n := 0
	for _, p := range f.batch {
		if p.ev != nil {
			f.events = append(f.events, p)
			continue
		}
		f.batch[n] = p
		n++
	}
	clear(f.batch[n:])
	f.batch = f.batch[:n]
}

// flushEvents commits the events one transaction each, in queue order,
// answers each, then hands the committed ones to onCommit (in seq order per
// room: one flusher per room, commits in order).
func (f *flusher) flushEvents() {
	if len(f.events) == 0 {
		return
	}
	var committed []chatcore.Message
	for _, p := range f.events {
		res := f.b.commitEvent(p.ev)
		if res.Err == nil && !res.Duplicate && !res.Noop {
			committed = append(committed, res.Msg)
		}
		if p.evDone != nil {
			p.evDone(res)
		}
	}
	clear(f.events)
	if len(committed) > 0 && f.b.onCommit != nil {
		f.b.onCommit(committed)
	}
}

// commitEvent runs one event's transaction, retried like a flush on a
// unique violation (the same cid committed elsewhere meanwhile: the retry
// finds it), a deadlock or a serialization failure.
func (b *Batcher) commitEvent(req *EventRequest) EventResult {
	for attempt := 1; ; attempt++ {
		var res EventResult
		err := b.s.run(context.Background(), "event_commit", func(ctx context.Context) (int, error) {
			var err error
			res, err = b.s.eventTx(ctx, req)
			return 1, err
		})
		var refusal *Refusal
		if errors.As(err, &refusal) {
			return EventResult{Err: refusal}
		}
		code := pgCode(err)
		if err == nil {
			return res
		}
		if code != codeUniqueViolation && code != codeDeadlock && code != codeSerialization {
			return EventResult{Err: err}
		}
		if attempt >= maxFlushAttempts {
			return EventResult{Err: fmt.Errorf("store: event: gave up after %d attempts: %w: %w", attempt, chatcore.ErrUnavailable, err)}
		}
		b.retries.Add(1)
		b.s.log.Debug("retrying event", zap.Int("attempt", attempt), zap.Error(err))
	}
}

// eventTx is one event: lock the room (the lock order of flushes: rooms
// first), answer a repeated cid, lock and check the target, change its
// state, take the next seq and insert the event row.
func (s *Store) eventTx(ctx context.Context, req *EventRequest) (EventResult, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return EventResult{}, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit a no-op
	var last int64
	if err := tx.QueryRow(ctx, `SELECT last_seq FROM rooms WHERE id = $1 FOR NO KEY UPDATE`, req.Room).Scan(&last); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return EventResult{}, refuse(chatcore.ErrNotFound, "no such room")
		}
		return EventResult{}, err
	}
	if req.CID != "" {
		if res, found, err := findEventByCID(ctx, tx, req); err != nil || found {
			return res, err
		}
	}
	var (
		author  int64
		created time.Time
		deleted bool
	)
	err = tx.QueryRow(ctx, `
		SELECT user_id, created_at, deleted_at IS NOT NULL FROM messages
		WHERE room_id = $1 AND seq = $2 AND kind = 0 FOR UPDATE`, req.Room, req.Target).Scan(&author, &created, &deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return EventResult{}, refuse(chatcore.ErrNotFound, "no such message")
	}
	if err != nil {
		return EventResult{}, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	switch req.Kind {
	case chatcore.KindEdit:
		if deleted {
			return EventResult{}, refuse(chatcore.ErrNotFound, "message was deleted")
		}
		if author != req.UserID {
			return EventResult{}, refuse(chatcore.ErrForbidden, "only the author may edit a message")
		}
		if req.EditWindow > 0 && now.Sub(created) > req.EditWindow {
			return EventResult{}, refuse(chatcore.ErrForbidden, "edit window closed")
		}
	case chatcore.KindDelete:
		if author != req.UserID {
			var role string
			err := tx.QueryRow(ctx, `SELECT role FROM room_users WHERE room_id = $1 AND user_id = $2`, req.Room, req.UserID).Scan(&role)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return EventResult{}, err
			}
			if role != chatcore.RoleOwner {
				return EventResult{}, refuse(chatcore.ErrForbidden, "only the author or the room's owner may delete a message")
			}
		}
		if deleted {
			return EventResult{Noop: true}, nil
		}
	case chatcore.KindReact, chatcore.KindUnreact:
		if deleted {
			return EventResult{}, refuse(chatcore.ErrNotFound, "message was deleted")
		}
		changed, err := s.react(ctx, tx, req, now)
		if err != nil || !changed {
			return EventResult{Noop: err == nil}, err
		}
	default:
		return EventResult{}, fmt.Errorf("store: unknown event kind %d", req.Kind)
	}
	seq := last + 1
	if _, err := tx.Exec(ctx, `UPDATE rooms SET last_seq = $2, event_count = event_count + 1 WHERE id = $1`, req.Room, seq); err != nil {
		return EventResult{}, err
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO messages (room_id, seq, user_id, body, client_id, created_at, kind, target_seq)
		VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, $7, $8)`,
		req.Room, seq, req.UserID, req.Body, req.CID, now, int16(req.Kind), req.Target); err != nil {
		return EventResult{}, err
	}
	switch req.Kind {
	case chatcore.KindEdit:
		_, err = tx.Exec(ctx, `UPDATE messages SET body = $3, edited_at = $4, rev = $5 WHERE room_id = $1 AND seq = $2`,
			req.Room, req.Target, req.Body, now, seq)
	case chatcore.KindDelete:
		// The text goes, from the message and from its earlier edits;
		// reactions go with it, and its files: message_seq negated marks
		// them as a deleted message's (never served, never attachable,
		// and the sweep removes their bytes: files.go). The rows stay, so
		// seqs keep no gap.
		_, err = tx.Exec(ctx, `
			WITH m AS (
				UPDATE messages SET body = '', deleted_at = $3, rev = $4 WHERE room_id = $1 AND seq = $2
			), e AS (
				UPDATE messages SET body = '' WHERE room_id = $1 AND target_seq = $2 AND kind = 1
			), f AS (
				UPDATE files SET message_seq = -message_seq WHERE room_id = $1 AND message_seq = $2
			)
			DELETE FROM message_reactions WHERE room_id = $1 AND seq = $2`, req.Room, req.Target, now, seq)
	default:
		_, err = tx.Exec(ctx, `UPDATE messages SET rev = $3 WHERE room_id = $1 AND seq = $2`, req.Room, req.Target, seq)
	}
	if err != nil {
		return EventResult{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return EventResult{}, err
	}
	return EventResult{Msg: chatcore.Message{
		Room: req.Room, Seq: seq, User: chatcore.UserRef{ID: req.UserID, Name: req.UserName},
		Body: req.Body, CID: req.CID, TS: now, Kind: req.Kind, Target: req.Target,
	}}, nil
}

// react adds or removes the user's reaction; changed is false when it was
// already there (or already gone).
func (s *Store) react(ctx context.Context, tx pgx.Tx, req *EventRequest, now time.Time) (changed bool, err error) {
	if req.Kind == chatcore.KindUnreact {
		tag, err := tx.Exec(ctx, `DELETE FROM message_reactions WHERE room_id = $1 AND seq = $2 AND emoji = $3 AND user_id = $4`,
			req.Room, req.Target, req.Body, req.UserID)
		return err == nil && tag.RowsAffected() > 0, err
	}
	if req.MaxReactions > 0 {
		var distinct int
		var present bool
		err := tx.QueryRow(ctx, `
			SELECT count(DISTINCT emoji), coalesce(bool_or(emoji = $3), false)
			FROM message_reactions WHERE room_id = $1 AND seq = $2`, req.Room, req.Target, req.Body).Scan(&distinct, &present)
		if err != nil {
			return false, err
		}
		if !present && distinct >= req.MaxReactions {
			return false, refuse(chatcore.ErrConflict, fmt.Sprintf("message already has %d distinct reactions, the most allowed", distinct))
		}
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO message_reactions (room_id, seq, emoji, user_id, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, req.Room, req.Target, req.Body, req.UserID, now)
	return err == nil && tag.RowsAffected() > 0, err
}

// sqlUnreadMentions counts the mentions of room_users row ru above its
// read marker (a primary-key range scan of mentions).
const sqlUnreadMentions = `(SELECT count(*) FROM mentions mn
	WHERE mn.user_id = ru.user_id AND mn.room_id = ru.room_id AND mn.seq > ru.last_read_seq)`

// findEventByCID answers a repeated cid: the same event again is a
// duplicate (Msg is the stored one), anything else under that cid (a
// message, another event) is a conflict.
func findEventByCID(ctx context.Context, tx pgx.Tx, req *EventRequest) (EventResult, bool, error) {
	var (
		m      chatcore.Message
		kind   int16
		target *int64
	)
	err := tx.QueryRow(ctx, `
		SELECT room_id, seq, body, created_at, kind, target_seq FROM messages
		WHERE user_id = $1 AND client_id = $2`, req.UserID, req.CID).Scan(&m.Room, &m.Seq, &m.Body, &m.TS, &kind, &target)
	if errors.Is(err, pgx.ErrNoRows) {
		return EventResult{}, false, nil
	}
	if err != nil {
		return EventResult{}, false, err
	}
	m.Kind = chatcore.Kind(kind)
	if target != nil {
		m.Target = *target
	}
	// A delete blanks an edit's stored text, so an edit is matched by its
	// target only once deleted.
	sameBody := m.Body == req.Body || (m.Kind == chatcore.KindEdit && m.Body == "")
	if m.Room != req.Room || m.Kind != req.Kind || m.Target != req.Target || !sameBody {
		return EventResult{}, true, refuse(chatcore.ErrConflict, "cid already used for a different message or event")
	}
	m.User = chatcore.UserRef{ID: req.UserID, Name: req.UserName}
	m.CID, m.TS, m.Body = req.CID, m.TS.UTC(), req.Body
	return EventResult{Msg: m, Duplicate: true}, true, nil
}
