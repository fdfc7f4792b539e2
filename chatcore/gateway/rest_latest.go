package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// The newest-messages page (GET /api/rooms/{id}/messages without before
// or after) is answered by the response cache in two parts, like the room
// list (rest_roomlist.go), so a post drops no stored entry:
//
//   - the stored part: the page as it was when it was stored (tags
//     members:R and history:R: joins, leaves and room events drop it; a
//     room event changes the state of messages it shows, and the
//     invalidator bumps history:R before it advances room:R past the
//     event);
//   - composed in per answer: the messages after it, up to the room's last
//     seq L. L is not read from anywhere per request: the version of the
//     room's tag room:R carries it (cachemw.SeqVersion), read in the same
//     round trip as the entry, and every instance reading one version
//     answers the same page: the one that ends at L. Each round of the
//     invalidator advances the tag to the newest seq it committed
//     (Advance: only ever upwards), and a REST send waits for that round
//     before its 201, so a GET after the 201, on any instance, reads a
//     version whose L includes the message.
//
// The page is a gap-free run of the room's stream, each entry encoded as
// the API encodes it (wire.Entry: messages in their current state, room
// events). The entries after the stored part come from this instance's
// previous answer for the room when it was built on the same stored part
// (same ETag: a new stored part may show messages in a newer state), else
// the hub's ring of recent frames when the room is live here and the run
// holds only messages without files (a ring frame is a message as sent,
// which is its current state only while no event in the run changed it),
// else one indexed read (after=). A version that carries no seq (a membership
// change bumped the tag, or its key was lost) is answered with L read from
// Postgres after it, and settled: the tag then carries that L, if it is
// still the version that was read (cachemw.Sequencer says why that is
// safe).

// LatestTag is the tag whose version carries room's last seq: the
// response cache reads it with every newest-messages entry.
func LatestTag(room int64) string { return tagRoom(room) }

// LatestInput is what the response cache hands ComposeLatest.
type LatestInput struct {
	Room  int64
	Query url.Values
	// Stored is the stored part: the API's newest page when it was stored;
	// StoredETag its ETag.
	Stored     []byte
	StoredETag string
	// Version is the version of LatestTag(Room) read with the entry, Seq
	// the seq it carries (SeqKnown false: none).
	Version  string
	Seq      int64
	SeqKnown bool
	// Settle, when set, makes Version carry seq if it is still the tag's
	// version (cachemw.Cache.Settle).
	Settle func(seq int64) bool
}

// latestPage is one composed newest page.
type latestPage struct {
	version string
	stored  string   // the ETag of the stored part it was built on
	seq     int64    // the room's last seq it shows
	msgs    [][]byte // encoded entries, oldest first, seqs seq-len+1 .. seq
	body    []byte
	etag    string
}

func (p *latestPage) size() int { return 2*len(p.body) + 128 }

// latestPages holds the last page composed per room and limit, so a hit on
// an unchanged version costs a map lookup; bounded by bytes (cleared whole
// past the bound: it is only a shortcut).
type latestPages struct {
	mu    sync.Mutex
	m     map[[2]int64]*latestPage
	bytes int
	// How answers were built: the page held for the version, a base plus
	// the ring, a base plus an indexed read, a whole page read.
	same, ring, after, whole atomic.Int64
}

const latestPagesMax = 16 << 20

func (l *latestPages) get(room int64, limit int) *latestPage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[[2]int64{room, int64(limit)}]
}

// put keeps p unless a page for a later seq is held already.
func (l *latestPages) put(room int64, limit int, p *latestPage) {
	k := [2]int64{room, int64(limit)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[[2]int64]*latestPage)
	}
	if old := l.m[k]; old != nil {
		if old.seq > p.seq {
			return
		}
		l.bytes -= old.size()
	}
	if l.bytes+p.size() > latestPagesMax {
		clear(l.m)
		l.bytes = 0
	}
	l.m[k] = p
	l.bytes += p.size()
}

var errLatestQuery = errors.New("gateway: not a newest-messages query")

// ComposeLatest builds the newest page of in.Room ending at the room's
// last seq that in.Version stands for (see above), with the ETag of the
// answer.
func (c *Core) ComposeLatest(ctx context.Context, in LatestInput) ([]byte, string, error) {
	p, ae := parsePage(in.Query)
	if ae != nil || p.hasBefore || p.hasAfter {
		return nil, "", errLatestQuery
	}
	pages := &c.caches().latest
	prev := pages.get(in.Room, p.limit)
	if prev != nil && (in.StoredETag == "" || prev.stored != in.StoredETag) {
		// Built on another stored part: its entries may show messages in
		// a state a room event has changed since.
		prev = nil
	}
	if prev != nil && prev.version == in.Version {
		pages.same.Add(1)
		return prev.body, prev.etag, nil
	}
	last := in.Seq
	if !in.SeqKnown {
		var err error
		if last, err = c.Store.LastSeq(ctx, in.Room); err != nil {
			return nil, "", err
		}
		if in.Settle != nil {
			in.Settle(last)
		}
	}
	// The base: the newest page at hand that does not go past last.
	var baseSeq int64
	var base [][]byte
	have := false
	if prev != nil && prev.seq <= last {
		baseSeq, base, have = prev.seq, prev.msgs, true
	}
	if seq, msgs, err := decodeStoredPage(in.Stored); err == nil && seq <= last && (!have || seq > baseSeq) {
		baseSeq, base, have = seq, msgs, true
	}
	var msgs [][]byte
	switch gap := last - baseSeq; {
	case have && gap == 0:
		msgs = base
	case have && gap < int64(p.limit):
		next, ring, err := c.messagesBetween(ctx, in.Room, baseSeq+1, last)
		if err != nil {
			return nil, "", err
		}
		if ring {
			pages.ring.Add(1)
		} else {
			pages.after.Add(1)
		}
		msgs = append(base[:len(base):len(base)], next...)
	default:
		pages.whole.Add(1)
		var err error
		if msgs, err = c.pageEndingAt(ctx, in.Room, last, p.limit); err != nil {
			return nil, "", err
		}
	}
	if len(msgs) > p.limit {
		msgs = msgs[len(msgs)-p.limit:]
	}
	page := &latestPage{version: in.Version, stored: in.StoredETag, seq: last, msgs: msgs}
	// has_more: messages below the oldest shown, i.e. it is not seq 1
	// (seqs are gap-free from 1): what the API's limit+1 read says.
	page.body = encodeLatest(msgs, last-int64(len(msgs)) > 0)
	sum := sha256.Sum256(page.body)
	page.etag = `"` + hex.EncodeToString(sum[:12]) + `"`
	pages.put(in.Room, p.limit, page)
	return page.body, page.etag, nil
}

// encodeLatest writes the page as the API does (writeJSON of
// {"messages": ..., "has_more": ...}: keys sorted, a trailing newline),
// newest first.
func encodeLatest(msgs [][]byte, more bool) []byte {
	n := 40
	for _, m := range msgs {
		n += len(m) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"has_more":`...)
	b = strconv.AppendBool(b, more)
	b = append(b, `,"messages":[`...)
	for i := len(msgs) - 1; i >= 0; i-- {
		b = append(b, msgs[i]...)
		if i > 0 {
			b = append(b, ',')
		}
	}
	return append(b, "]}\n"...)
}

// decodeStoredPage reads a stored newest page: its last seq and its
// entries (messages and room events), oldest first. Its seqs must be
// contiguous.
func decodeStoredPage(stored []byte) (int64, [][]byte, error) {
	var page struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(stored, &page); err != nil {
		return 0, nil, err
	}
	n := len(page.Messages)
	out := make([][]byte, n)
	var last int64
	for i, raw := range page.Messages {
		var m struct {
			Seq int64 `json:"seq"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return 0, nil, err
		}
		if i == 0 {
			last = m.Seq
		} else if m.Seq != last-int64(i) {
			return 0, nil, fmt.Errorf("gateway: stored page not contiguous at seq %d", m.Seq)
		}
		out[n-1-i] = raw
	}
	return last, out, nil
}

// messagesBetween returns room's entries from through to, oldest first,
// encoded as the API does (wire.Entry): from the hub's ring when the room
// is live here, the ring holds them and they are all messages, else one
// indexed read. A ring frame is an entry as committed: a room event's is
// what the API answers, a message's only while no event changed it. An
// event that changes a message of the run has a higher seq: it is in the
// run (then the indexed read answers), or past to, and then only a later
// version's run holds it (the invalidator advances room:R past an event
// only after bumping history:R, which drops the stored part and with it
// the pages built on it).
func (c *Core) messagesBetween(ctx context.Context, room, from, to int64) (_ [][]byte, ring bool, _ error) {
	out := make([][]byte, 0, to-from+1)
	if frames := c.Hub.Recent(room, from, to); frames != nil {
		for _, f := range frames {
			var ev wire.MessageEvent
			// A message with files goes to the indexed read too: its
			// frame carries them as the send named them, the API as
			// stored.
			if err := json.Unmarshal(f.Data, &ev); err != nil || ev.Type != wire.TypeMessage || len(ev.Files) > 0 || ev.Seq != from+int64(len(out)) {
				out = out[:0]
				break
			}
			out = append(out, wire.Encode(ev))
		}
		if int64(len(out)) == to-from+1 {
			return out, true, nil
		}
		out = out[:0]
	}
	msgs, _, err := c.Store.AfterRead(ctx, room, from-1, int(to-from+1))
	if err != nil {
		return nil, false, err
	}
	out, err = encodeRun(msgs, from, to, out)
	return out, false, err
}

// pageEndingAt reads the limit entries of room up to last (one indexed
// read), oldest first, encoded.
func (c *Core) pageEndingAt(ctx context.Context, room, last int64, limit int) ([][]byte, error) {
	if last <= 0 {
		return [][]byte{}, nil
	}
	msgs, _, err := c.Store.HistoryRead(ctx, room, last+1, limit)
	if err != nil {
		return nil, err
	}
	from := last - int64(len(msgs)) + 1
	if from < 1 {
		from = 1
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return encodeRun(msgs, from, last, make([][]byte, 0, len(msgs)))
}

// encodeRun appends msgs (oldest first), which must be exactly the seqs
// from through to, encoded as the API encodes them (wire.Entry).
func encodeRun(msgs []chatcore.Message, from, to int64, out [][]byte) ([][]byte, error) {
	if int64(len(msgs)) != to-from+1 {
		return nil, fmt.Errorf("gateway: read %d messages for seqs %d-%d", len(msgs), from, to)
	}
	for i := range msgs {
		if msgs[i].Seq != from+int64(i) {
			return nil, fmt.Errorf("gateway: read seq %d, want %d", msgs[i].Seq, from+int64(i))
		}
		b, err := json.Marshal(wire.Entry(&msgs[i]))
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
