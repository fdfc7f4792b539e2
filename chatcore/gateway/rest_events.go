package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
)

// The REST adapters of the room-event use case (events.go). Each answers
// 200 with the ack's shape: {"room","target","seq","cid"} for a stored
// event, with "duplicate":true for a repeated cid, "noop":true (no seq)
// when nothing changed.

func (a *API) editMessage(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	e, err := eventTarget(r, who, chatcore.KindEdit)
	if err != nil {
		return err
	}
	var req struct {
		Body string `json:"body"`
		CID  string `json:"cid"`
	}
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	e.body, e.cid = req.Body, req.CID
	return a.serveEvent(w, r, e)
}

func (a *API) deleteMessage(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	e, err := eventTarget(r, who, chatcore.KindDelete)
	if err != nil {
		return err
	}
	e.cid = r.URL.Query().Get("cid")
	return a.serveEvent(w, r, e)
}

func (a *API) addReaction(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	return a.reaction(w, r, who, chatcore.KindReact)
}

func (a *API) removeReaction(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	return a.reaction(w, r, who, chatcore.KindUnreact)
}

func (a *API) reaction(w http.ResponseWriter, r *http.Request, who auth.Claims, kind chatcore.Kind) error {
	e, err := eventTarget(r, who, kind)
	if err != nil {
		return err
	}
	e.body, e.cid = r.PathValue("emoji"), r.URL.Query().Get("cid")
	return a.serveEvent(w, r, e)
}

// eventTarget reads the room and the message's seq from the path.
func eventTarget(r *http.Request, who auth.Claims, kind chatcore.Kind) (roomEvent, error) {
	id, err := pathID(r)
	if err != nil {
		return roomEvent{}, err
	}
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq <= 0 {
		return roomEvent{}, badRequest("seq must be a positive integer")
	}
	return roomEvent{room: id, who: who, kind: kind, target: seq}, nil
}

func (a *API) serveEvent(w http.ResponseWriter, r *http.Request, e roomEvent) error {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	res, err := a.eventSync(ctx, e)
	if err != nil {
		return err
	}
	ack := eventAck(e.cid, &e, res)
	writeJSON(w, http.StatusOK, map[string]any{
		"room": ack.Room, "target": ack.Target, "seq": ack.Seq, "cid": ack.CID,
		"duplicate": ack.Duplicate, "noop": ack.Noop,
	})
	return nil
}
