package gateway

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/wire"
)

func (a *API) messages(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p, ae := parsePage(r.URL.Query())
	if ae != nil {
		return ae
	}
	if err := a.authorize(r.Context(), id, who); err != nil {
		return err
	}
	var msgs []chatcore.Message
	var more bool
	if p.hasAfter {
		msgs, more, err = a.core.Store.AfterRead(r.Context(), id, p.after, p.limit)
	} else {
		msgs, more, err = a.core.Store.HistoryRead(r.Context(), id, p.before, p.limit)
	}
	if err != nil {
		return err
	}
	// Each entry has its type: messages (in their current state) and room
	// events, a gap-free run of the room's stream.
	out := make([]any, len(msgs))
	for i := range msgs {
		out[i] = wire.Entry(&msgs[i])
	}
	switch {
	case p.hasBefore && belowNewest(msgs, p.before):
		// A page wholly below the newest message gets no new message (seqs
		// are gap-free and committed in order); who may read it changes
		// (members:R) and its messages' state changes with room events
		// (history:R).
		setTags(w.Header(), tagMembers(id), tagHistory(id))
	case !p.hasBefore && !p.hasAfter && storedPart(r.Context()):
		// The newest page as the response cache's stored part: every
		// answer adds the entries since (rest_latest.go), so only who may
		// read it and the state of its messages (room events) drop it.
		setTags(w.Header(), tagMembers(id), tagHistory(id))
	default:
		setTags(w.Header(), tagRoom(id))
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out, "has_more": more})
	return nil
}

// belowNewest reports whether a history page (newest first) below before
// gets no new entry: it holds seq before-1, so every seq under before
// exists already. A before of 0 or past the newest message asks for the
// newest page, which the next message changes.
func belowNewest(msgs []chatcore.Message, before int64) bool {
	if len(msgs) == 0 {
		return before == 1
	}
	return before > 0 && msgs[0].Seq == before-1
}

// page is the window GET /api/rooms/{id}/messages asks for: up to limit
// messages below before (newest first; none: from the newest) or above
// after (oldest first), never both.
type page struct {
	limit               int
	before, after       int64
	hasBefore, hasAfter bool
}

// parsePage reads limit (1 to 200, default 50), before and after from the
// query.
func parsePage(q url.Values) (page, *apiError) {
	p := page{limit: 50}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			return page{}, badRequest("limit must be an integer from 1 to 200")
		}
		p.limit = n
	}
	var ae *apiError
	if p.before, p.hasBefore, ae = seqParam(q.Get("before"), "before"); ae != nil {
		return page{}, ae
	}
	if p.after, p.hasAfter, ae = seqParam(q.Get("after"), "after"); ae != nil {
		return page{}, ae
	}
	if p.hasBefore && p.hasAfter {
		return page{}, badRequest("give before or after, not both")
	}
	return p, nil
}

func seqParam(s, name string) (int64, bool, *apiError) {
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false, badRequest(name + " must be a non-negative integer")
	}
	return n, true, nil
}

func (a *API) postMessage(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req struct {
		Body  string  `json:"body"`
		CID   string  `json:"cid"`
		Files []int64 `json:"files"`
	}
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	// The REST adapter of the send use case (send.go): it answers once the
	// message is stored and its room's caches are invalidated.
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	res, err := a.sender().sendSync(ctx, outgoing{room: id, who: who, body: req.Body, cid: req.CID, files: req.Files})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res.Duplicate {
		status = http.StatusOK
		if len(req.Files) > 0 {
			// The batcher answers a duplicate without its files (its
			// lookup reads messages only); the answer is the stored
			// message, files included.
			one := []chatcore.Message{res.Msg}
			if err := a.core.Store.FillFiles(ctx, id, one); err != nil {
				return err
			}
			res.Msg = one[0]
		}
	}
	writeJSON(w, status, wire.FromMessage(&res.Msg))
	return nil
}

func (a *API) markRead(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req struct {
		Seq int64 `json:"seq"`
	}
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if req.Seq < 0 {
		return badRequest("seq must be a non-negative integer")
	}
	if err := a.authorize(r.Context(), id, who); err != nil {
		return err
	}
	if err := a.core.Store.MarkRead(r.Context(), id, who.UserID, req.Seq); err != nil {
		return err
	}
	a.core.readMarked(r.Context(), who.UserID)
	writeJSON(w, http.StatusOK, map[string]any{"room": id, "last_read_seq": req.Seq})
	return nil
}
