package gateway

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// searchHit is one result of GET /api/search: the message as history
// returns it and a snippet around the matches, as plain-text parts (never
// markup: a client renders each part as text, the matched ones marked).
type searchHit struct {
	Message wire.Msg            `json:"message"`
	Snippet []store.SnippetPart `json:"snippet"`
}

// search answers GET /api/search: full-text search over the messages of
// the caller's rooms (store/search.go). It is never cached (README,
// "Search"): an answer depends on the caller's rooms and on every message
// in any of them, so a stored one would be dropped by nearly every message,
// and queries rarely repeat.
func (a *API) search(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	q, ae := parseSearch(r.URL.Query())
	if ae != nil {
		return ae
	}
	if err := a.allow(r.Context(), "search", strconv.FormatInt(who.UserID, 10), a.cfg.Limits.SearchRate,
		"too many searches, slow down"); err != nil {
		return err
	}
	if q.Room != 0 {
		// 404 and 403 as the room's other reads; the query checks
		// membership again, in the same statement as the search.
		if err := a.authorize(r.Context(), q.Room, who); err != nil {
			return err
		}
	}
	q.User = who.UserID
	hits, more, err := a.core.Store.SearchMessages(r.Context(), q)
	switch {
	case errors.Is(err, store.ErrSearchNoWords), errors.Is(err, store.ErrSearchOnlyNegated):
		msg := store.ErrSearchNoWords.Error()
		if errors.Is(err, store.ErrSearchOnlyNegated) {
			msg = store.ErrSearchOnlyNegated.Error()
		}
		return badRequest("q: " + msg)
	case err != nil:
		return err
	}
	out := make([]searchHit, len(hits))
	for i := range hits {
		out[i] = searchHit{Message: wire.FromMessage(&hits[i].Msg), Snippet: hits[i].Snippet}
	}
	body := map[string]any{"results": out}
	if more {
		last := hits[len(hits)-1].Msg
		body["next"] = encodeSearchCursor(store.SearchCursor{TS: last.TS, Room: last.Room, Seq: last.Seq})
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, body)
	return nil
}

// parseSearch reads q (required, at most store.MaxSearchQuery bytes after
// trimming), room, before (a cursor from a previous answer) and limit
// (1 to 50, default 20).
func parseSearch(v url.Values) (store.Search, *apiError) {
	q := store.Search{Limit: 20, Text: strings.TrimSpace(v.Get("q"))}
	switch {
	case q.Text == "":
		return q, badRequest("q is required: the words to search for")
	case len(q.Text) > store.MaxSearchQuery:
		return q, badRequest(fmt.Sprintf("q is too long: at most %d bytes", store.MaxSearchQuery))
	case !utf8.ValidString(q.Text) || strings.ContainsRune(q.Text, 0):
		return q, badRequest("q must be UTF-8 text without NUL")
	}
	if s := v.Get("room"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return q, badRequest("room must be a positive integer")
		}
		q.Room = n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 50 {
			return q, badRequest("limit must be an integer from 1 to 50")
		}
		q.Limit = n
	}
	if s := v.Get("before"); s != "" {
		c, ok := decodeSearchCursor(s)
		if !ok {
			return q, badRequest("before must be a cursor from a previous answer's next")
		}
		q.Before = &c
	}
	return q, nil
}

// A cursor is base64url("s1.<unix microseconds>.<room>.<seq>"): opaque to
// clients, checked strictly here.
func encodeSearchCursor(c store.SearchCursor) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "s1.%d.%d.%d", c.TS.UnixMicro(), c.Room, c.Seq))
}

func decodeSearchCursor(s string) (store.SearchCursor, bool) {
	if len(s) > 100 {
		return store.SearchCursor{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.SearchCursor{}, false
	}
	f := strings.Split(string(raw), ".")
	if len(f) != 4 || f[0] != "s1" {
		return store.SearchCursor{}, false
	}
	var n [3]int64
	for i := range n {
		if n[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil || n[i] <= 0 || strconv.FormatInt(n[i], 10) != f[i+1] {
			return store.SearchCursor{}, false
		}
	}
	ts := time.UnixMicro(n[0]).UTC()
	if ts.Year() > 9999 {
		return store.SearchCursor{}, false
	}
	return store.SearchCursor{TS: ts, Room: n[1], Seq: n[2]}, true
}
