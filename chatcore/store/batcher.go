package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// SendRequest is one message to store. The caller has already checked
// membership, rate limits and size.
type SendRequest struct {
	Room     int64
	UserID   int64
	UserName string // copied into the result; not stored (users.name is)
	Body     string
	CID      string // client id; "" disables idempotency for this message
	// Files are attached to the message in its flush's transaction
	// (attach_files); nil for a message without files, which costs nothing.
	Files []chatcore.File
	// Mentions are the lowercase @names of Body, without spaces, and
	// without white space in them: the members of Room whose name matches
	// one (spaces removed, lowercased), other than the author, are recorded
	// as mentioned in the flush's transaction, so a stored message never
	// lacks its mentions. nil costs nothing.
	Mentions []string
}

// SendResult answers one SendRequest. Duplicate means (UserID, CID) was
// already stored: Msg is the stored message and no new seq was used.
type SendResult struct {
	Msg       chatcore.Message
	Duplicate bool
	Err       error
}

// ErrInvalidText is returned by Submit for a body or client id Postgres could
// not store (NUL bytes or invalid UTF-8). It is checked up front because one
// such message would otherwise fail the whole transaction it is batched in.
// It is a chatcore.ErrInvalidInput, so it answers 400 like any other value
// Postgres refuses.
var ErrInvalidText = fmt.Errorf("store: text contains NUL or invalid UTF-8: %w", chatcore.ErrInvalidInput)

// maxFlushAttempts bounds the retries of one flush after a unique violation
// (another instance stored the same client id first), a deadlock or a
// serialization failure.
const maxFlushAttempts = 5

// conflictWindow is how long after a unique violation every flush looks up
// duplicates before inserting.
const conflictWindow = 10 * time.Second

// writeFunc writes one attempt's seq bumps and messages (flusher.rooms and
// the rest, planned by plan) and fills runs[i].last and found. The
// production one is flusher.writeFlush; the benchmark's alternatives live in
// strategies_test.go.
type writeFunc func(f *flusher, ctx context.Context, runs []roomRun, ts time.Time) error

type pending struct {
	req  SendRequest
	done func(SendResult)
	res  SendResult

	decided bool     // res is final for this attempt (duplicate or room not found)
	dupOf   *pending // same (user, cid) as an earlier request of this flush

	// ev is set for a room event (events.go), which the flush commits on
	// its own after the messages and answers through evDone.
	ev     *EventRequest
	evDone func(EventResult)
}

// Batcher turns concurrent sends into few transactions. See NewBatcher.
type Batcher struct {
	s        *Store
	onCommit func([]chatcore.Message)
	// queues has one bounded queue per flusher; a room always maps to the
	// same one (see shard).
	queues []chan *pending

	mu      sync.RWMutex // guards stopped against close(queues)
	stopped bool

	startOnce sync.Once
	wg        sync.WaitGroup

	// lastConflict is when a flush last hit a unique violation (UnixNano).
	// For conflictWindow after it, flushes look up duplicates before
	// inserting (see flush).
	lastConflict atomic.Int64
	retries      atomic.Int64 // flush attempts repeated after a conflict/deadlock (for tests)

	// Knobs for benchmarks and tests; the defaults are the measured best.
	precheck bool      // look up existing (user, cid) before every flush, not only after a conflict
	write    writeFunc // nil: writeFlush (sqlFlush, one statement per flush)
}

// NewBatcher creates a write batcher on s. onCommit (may be nil) is called on
// a flusher goroutine after each successful commit with that flush's NEW
// messages (duplicates excluded), grouped by room in ascending seq order; the
// slice is the callee's to keep. It runs after the done callbacks of the same
// flush, so senders get their ack before anyone sees the message, and it
// delays the next flush of its flusher: keep it cheap (hand off to the bus).
//
// Every room is always flushed by the same flusher (see shard), so within
// one Batcher onCommit delivers each room's messages in seq order, across
// calls too. Messages committed by other instances interleave only through
// the bus; the hub's per-room reorder buffer handles that.
func (s *Store) NewBatcher(onCommit func([]chatcore.Message)) *Batcher {
	return s.newBatcher(onCommit, s.cfg.BatchWorkers)
}

func (s *Store) newBatcher(onCommit func([]chatcore.Message), workers int) *Batcher {
	b := &Batcher{
		s:        s,
		onCommit: onCommit,
		queues:   make([]chan *pending, workers),
	}
	per := (s.cfg.BatchQueue + workers - 1) / workers
	for i := range b.queues {
		b.queues[i] = make(chan *pending, per)
	}
	return b
}

// shard maps a room to its flusher. Rooms are partitioned rather than shared
// because flushers that share rooms serialize on the rooms row locks: a
// second flusher then just waits, holding a batch that is smaller than it
// could have been. Partitioned, flushers never wait for each other, their
// commits can share a WAL flush, and each room's flushes (and onCommit calls)
// happen in seq order. (Measured before partitioning, 2 flushers on one
// shared queue made 85-message flushes that mostly waited on each other.)
func (b *Batcher) shard(room int64) int {
	if len(b.queues) == 1 {
		return 0
	}
	// Fibonacci hashing spreads sequential ids evenly.
	return int((uint64(room) * 0x9E3779B97F4A7C15 >> 32) % uint64(len(b.queues)))
}

// Start launches Config.BatchWorkers flusher goroutines. Calling it again is a
// no-op.
func (b *Batcher) Start() {
	b.startOnce.Do(func() {
		for _, q := range b.queues {
			b.wg.Add(1)
			go b.worker(q)
		}
	})
}

// Submit queues req without blocking. done (may be nil) is called exactly once,
// from a flusher goroutine, after req is committed or has failed. Submit
// returns a wrapped chatcore.ErrUnavailable when the queue is full or the
// batcher is stopped (done is then never called), and ErrInvalidText for
// text Postgres cannot store.
func (b *Batcher) Submit(req SendRequest, done func(SendResult)) error {
	if !validText(req.Body) || !validText(req.CID) {
		return ErrInvalidText
	}
	return b.enqueue(&pending{req: req, done: done})
}

// enqueue queues p to its room's flusher without blocking.
func (b *Batcher) enqueue(p *pending) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.stopped {
		return fmt.Errorf("store: batcher stopped: %w", chatcore.ErrUnavailable)
	}
	select {
	case b.queues[b.shard(p.req.Room)] <- p:
		return nil
	default:
		return fmt.Errorf("store: batcher queue full: %w", chatcore.ErrUnavailable)
	}
}

// Send submits req and waits for its result or ctx. When ctx ends first the
// message may still be committed later; the client retries with the same CID.
func (b *Batcher) Send(ctx context.Context, req SendRequest) SendResult {
	ch := make(chan SendResult, 1)
	if err := b.Submit(req, func(r SendResult) { ch <- r }); err != nil {
		return SendResult{Err: err}
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return SendResult{Err: fmt.Errorf("store: send: %w", ctx.Err())}
	}
}

// Stop stops accepting requests, flushes everything already queued and waits
// for the flushers (graceful drain). It starts the flushers if Start was
// never called. When ctx ends first Stop returns its error; the flushers keep
// draining in the background and every done is still called.
func (b *Batcher) Stop(ctx context.Context) error {
	b.mu.Lock()
	if !b.stopped {
		b.stopped = true
		for _, q := range b.queues {
			close(q)
		}
	}
	b.mu.Unlock()
	b.Start()
	finished := make(chan struct{})
	go func() { b.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: batcher stop: %w", ctx.Err())
	}
}

func validText(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// worker is one flusher. Batching is natural: it blocks for the first
// request, then takes whatever else is already queued, without waiting, up to
// BatchMax. While a flush is in flight the queue fills, so batches grow with
// load and a lone message is committed immediately.
func (b *Batcher) worker(queue chan *pending) {
	defer b.wg.Done()
	max := b.s.cfg.BatchMax
	f := &flusher{b: b, batch: make([]*pending, 0, max)}
	for {
		first, ok := <-queue
		if !ok {
			return
		}
		f.batch = append(f.batch[:0], first)
	drain:
		for len(f.batch) < max {
			select {
			case p, ok := <-queue:
				if !ok {
					break drain
				}
				f.batch = append(f.batch, p)
			default:
				break drain
			}
		}
		f.flush()
	}
}

// flusher holds one worker's reusable buffers.
type flusher struct {
	b      *Batcher
	batch  []*pending
	events []*pending // the batch's room events (splitEvents)

	primaries []*pending
	keys      map[dupKey]*pending

	// unnest parameters
	rooms, offs, users []int64
	bodies, cids       []string
	// attach_files parameters, filled only for messages with files
	fileIDs, fileRooms, fileOffs, fileUsers []int64
	// sqlStoreMentions parameters, filled only for messages with @names,
	// and its answer
	mentRooms, mentOffs, mentUsers []int64
	mentNames                      []string
	mentioned                      []mention
	dupUsers                       []int64
	dupCIDs                        []string
	runs                           []roomRun
	runRooms, runNs                []int64
	commit                         time.Duration // duration of the last successful commit round trip
}

// roomRun is the slice of a flush that belongs to one room.
type roomRun struct {
	room       int64
	start, end int   // index range in flusher.primaries
	n          int64 // new (not duplicate) requests in the run
	last       int64 // rooms.last_seq after the bump
	found      bool  // the room exists
}

type dupKey struct {
	user int64
	cid  string
}

// isolate reports whether a failed flush should be retried one message at
// a time: the error is neither transient (unavailability) nor a unique
// violation (answered by the duplicate lookup), so one message may be its
// cause.
func isolate(err error) bool {
	sentinel := classify(err)
	return (sentinel == nil || errors.Is(sentinel, chatcore.ErrInvalidInput) || isFileAttach(err)) && pgCode(err) != codeUniqueViolation
}

// flush commits f.batch and answers every request in it: acks first, then
// onCommit with the new messages; then the batch's room events, each in a
// transaction of its own (events.go).
func (f *flusher) flush() {
	f.splitEvents()
	if len(f.batch) > 0 {
		f.flushMessages()
	}
	f.flushEvents()
}

// flushMessages commits the batch's messages.
func (f *flusher) flushMessages() {
	anyCID := f.dedupe()
	f.sortByRoom()
	err := f.commitWithRetries(anyCID)
	if err != nil && len(f.primaries) > 1 && isolate(err) {
		f.oneByOne(err)
		err = nil
	}
	if err == nil {
		f.b.s.obs.ObserveBatch(len(f.batch), f.commit)
	}
	committed := f.settle(err)
	f.answer()
	if len(committed) > 0 && f.b.onCommit != nil {
		f.b.onCommit(committed)
	}
	clear(f.batch) // drop references for the GC
}

// dedupe makes f.primaries: the batch without the requests that repeat an
// earlier one's (user, cid) (in-batch idempotency: such a request gets the
// earlier one's result as a duplicate). It reports whether any has a cid.
func (f *flusher) dedupe() (anyCID bool) {
	f.primaries = f.primaries[:0]
	if f.keys == nil {
		f.keys = make(map[dupKey]*pending)
	}
	clear(f.keys)
	for _, p := range f.batch {
		if p.req.CID != "" {
			k := dupKey{p.req.UserID, p.req.CID}
			if first, ok := f.keys[k]; ok {
				p.dupOf = first
				continue
			}
			f.keys[k] = p
			anyCID = true
		}
		f.primaries = append(f.primaries, p)
	}
	return anyCID
}

// sortByRoom groups the primaries by room, keeping queue order within a
// room (it becomes seq order). Ascending room order is also the lock order
// of the seq UPDATEs, which keeps concurrent flushers and other instances
// deadlock-free.
func (f *flusher) sortByRoom() {
	slices.SortStableFunc(f.primaries, func(x, y *pending) int { return cmp.Compare(x.req.Room, y.req.Room) })
}

// precheckFirst decides whether the first attempt looks up duplicates.
// Idempotency is enforced by the unique (user_id, client_id) index; the
// duplicate lookup is only an optimization that answers retries without a
// failed attempt. Measured (precheck-always in BenchmarkBatcherThroughput),
// looking up before every flush costs a round trip of ~1 ms per flush, +4-10
// us Postgres CPU and +3-7 us Go CPU per message, while duplicates are rare
// (client retries after a reconnect), so by default a flush inserts
// optimistically and looks up only after a unique violation: then the
// implicit transaction (seq bumps included) is rolled back, the lookup
// answers the duplicates, and the rest is retried. After a conflict, the
// lookup runs up front for conflictWindow, because retries come in waves (a
// reconnect storm), where a failed attempt per flush would cost more than
// the lookup.
func (f *flusher) precheckFirst(anyCID bool) bool {
	b := f.b
	return anyCID && (b.precheck || time.Now().UnixNano()-b.lastConflict.Load() < int64(conflictWindow))
}

// commitWithRetries runs attempts until one commits, fails for good, or
// maxFlushAttempts is reached. It retries unique violations (another
// flusher or instance committed one of our (user, cid) pairs after we
// looked, or we did not look: the whole implicit transaction, last_seq
// bumps included, was rolled back, so seqs stay gap-free; look again),
// deadlocks and serialization failures.
func (f *flusher) commitWithRetries(anyCID bool) error {
	b := f.b
	precheck := f.precheckFirst(anyCID)
	f.commit = 0
	for attempt := 1; ; attempt++ {
		for _, p := range f.primaries {
			p.res, p.decided = SendResult{}, false
		}
		err := f.attempt(precheck)
		code := pgCode(err)
		if err == nil || (code != codeUniqueViolation && code != codeDeadlock && code != codeSerialization) {
			return err
		}
		if attempt >= maxFlushAttempts {
			return fmt.Errorf("store: batch flush: gave up after %d attempts: %w: %w", attempt, chatcore.ErrUnavailable, err)
		}
		if code == codeUniqueViolation {
			precheck = anyCID
			b.lastConflict.Store(time.Now().UnixNano())
		}
		b.retries.Add(1)
		b.s.log.Debug("retrying batch flush", zap.Int("attempt", attempt), zap.Error(err))
	}
}

// oneByOne follows an unexpected, non-transient error (not unavailability),
// or a value Postgres refused: it isolates the request that causes it by
// committing one at a time, so one bad message cannot sink its batch (it
// alone gets the error, a 400 for input).
func (f *flusher) oneByOne(err error) {
	f.b.s.log.Warn("batch flush failed, retrying one by one", zap.Int("size", len(f.primaries)), zap.Error(err))
	all := slices.Clone(f.primaries)
	for _, p := range all {
		f.primaries = append(f.primaries[:0], p)
		if e := f.attempt(false); e != nil {
			if isFileAttach(e) {
				e = ErrFileTaken
			}
			p.res = SendResult{Err: e}
		}
	}
	f.primaries = all
}

// settle gives every primary its final result (err, when the flush failed
// as a whole) and returns the newly committed messages.
func (f *flusher) settle(err error) []chatcore.Message {
	var committed []chatcore.Message
	if isFileAttach(err) {
		err = ErrFileTaken // a flush of one message: it is the one
	}
	for _, p := range f.primaries {
		if err != nil {
			p.res = SendResult{Err: err}
			continue
		}
		if p.res.Err == nil && !p.res.Duplicate {
			committed = append(committed, p.res.Msg)
		}
	}
	return committed
}

// answer calls every request's done; an in-batch repeat gets its first's
// result as a duplicate.
func (f *flusher) answer() {
	for _, p := range f.batch {
		if p.dupOf != nil {
			p.res = p.dupOf.res
			if p.res.Err == nil {
				p.res.Duplicate = true
			}
		}
		if p.done != nil {
			p.done(p.res)
		}
		p.dupOf, p.done = nil, nil
	}
}

// attempt runs one try of the flush of f.primaries: optional duplicate lookup,
// then the seq bumps and the insert in one transaction. It fills p.res for
// every primary on success; its error fails the whole attempt.
func (f *flusher) attempt(precheck bool) error {
	if precheck {
		if err := f.lookupDuplicates(); err != nil {
			return err
		}
	}
	runs := f.plan()
	if len(runs) == 0 {
		return nil
	}
	ts := time.Now().UTC().Truncate(time.Microsecond)
	write := f.b.write
	if write == nil {
		write = (*flusher).writeFlush
	}
	var commit time.Duration
	err := f.b.s.run(context.Background(), "batch_flush", func(ctx context.Context) (int, error) {
		start := time.Now()
		defer func() { commit = time.Since(start) }()
		return len(f.rooms), write(f, ctx, runs, ts)
	})
	if err != nil {
		return err
	}
	f.commit = commit
	f.fill(runs, ts)
	return nil
}

// plan groups the undecided primaries into per-room runs and fills the
// insert's unnest arrays. Per room, request k of n gets seq =
// last_seq_after_update - n + k; the insert computes it server-side from the
// updated rooms row as rooms.last_seq + off with off = k - n (<= 0).
func (f *flusher) plan() []roomRun {
	f.rooms, f.offs, f.users = f.rooms[:0], f.offs[:0], f.users[:0]
	f.bodies, f.cids = f.bodies[:0], f.cids[:0]
	f.fileIDs, f.fileRooms, f.fileOffs, f.fileUsers = f.fileIDs[:0], f.fileRooms[:0], f.fileOffs[:0], f.fileUsers[:0]
	f.mentRooms, f.mentOffs, f.mentUsers, f.mentNames = f.mentRooms[:0], f.mentOffs[:0], f.mentUsers[:0], f.mentNames[:0]
	f.mentioned = f.mentioned[:0]
	runs := f.runs[:0]
	for i := 0; i < len(f.primaries); {
		room := f.primaries[i].req.Room
		j, n := i, int64(0)
		for ; j < len(f.primaries) && f.primaries[j].req.Room == room; j++ {
			if !f.primaries[j].decided {
				n++
			}
		}
		if n > 0 {
			runs = append(runs, roomRun{room: room, start: i, end: j, n: n})
			k := int64(0)
			for _, p := range f.primaries[i:j] {
				if p.decided {
					continue
				}
				k++
				f.rooms = append(f.rooms, room)
				f.offs = append(f.offs, k-n)
				f.users = append(f.users, p.req.UserID)
				f.bodies = append(f.bodies, p.req.Body)
				f.cids = append(f.cids, p.req.CID)
				for _, file := range p.req.Files {
					f.fileIDs = append(f.fileIDs, file.ID)
					f.fileRooms = append(f.fileRooms, room)
					f.fileOffs = append(f.fileOffs, k-n)
					f.fileUsers = append(f.fileUsers, p.req.UserID)
				}
				if len(p.req.Mentions) > 0 {
					f.mentRooms = append(f.mentRooms, room)
					f.mentOffs = append(f.mentOffs, k-n)
					f.mentUsers = append(f.mentUsers, p.req.UserID)
					f.mentNames = append(f.mentNames, strings.Join(p.req.Mentions, " "))
				}
			}
		}
		i = j
	}
	f.runs = runs
	return runs
}

// writeFlush is the write: the whole attempt as ONE statement (sqlFlush;
// sqlFlushOne when it touches one room, sqlFlushSingle when it is one
// message) sent as a one-query pgx.Batch, i.e. one round trip in an
// implicit transaction. It was measured against a transaction with CopyFrom and
// against one UPDATE per room (strategies_test.go, BENCHMARKS.md): same
// Postgres work or less, ~40% less Go CPU, fewer round trips.
func (f *flusher) writeFlush(ctx context.Context, runs []roomRun, ts time.Time) error {
	var batch pgx.Batch
	switch {
	case len(runs) == 1 && len(f.users) == 1:
		// The common flush at everyday rates: one message.
		batch.Queue(sqlFlushSingle, runs[0].room, f.users[0], f.bodies[0], f.cids[0], ts)
	case len(runs) == 1:
		// One room: one row lock cannot deadlock, so no locking CTE.
		batch.Queue(sqlFlushOne, runs[0].room, runs[0].n, f.offs, f.users, f.bodies, f.cids, ts)
	default:
		f.runArrays(runs)
		batch.Queue(sqlFlush, f.runRooms, f.runNs, f.rooms, f.offs, f.users, f.bodies, f.cids, ts)
	}
	if len(f.fileIDs) > 0 {
		// Same batch, same implicit transaction (one Sync): the files are
		// attached with their messages or, if one is taken, nothing is
		// stored. Flushes without files send only the flush statement.
		// The files' rooms are locked by then (the bump), so no other
		// flush can touch these rows.
		batch.Queue(sqlAttachFiles, f.fileIDs, f.fileRooms, f.fileOffs, f.fileUsers)
	}
	if len(f.mentRooms) > 0 {
		// Same transaction again: the mentions are stored with their
		// messages or not at all. Only flushes with an @name send it.
		batch.Queue(sqlStoreMentions, f.mentRooms, f.mentOffs, f.mentUsers, f.mentNames)
	}
	br := f.b.s.pool.SendBatch(ctx, &batch)
	if err := f.readBumps(br, runs); err != nil {
		br.Close()
		return err
	}
	if len(f.fileIDs) > 0 {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	if len(f.mentRooms) > 0 {
		if err := f.readMentions(br); err != nil {
			br.Close()
			return err
		}
	}
	// Close reads up to ReadyForQuery, i.e. past the implicit COMMIT at the
	// batch's Sync: only after it returns nil is anything durable.
	return br.Close()
}

// mention is one user mentioned by the message (room, seq).
type mention struct{ room, seq, user int64 }

// readMentions reads sqlStoreMentions' rows into f.mentioned.
func (f *flusher) readMentions(br pgx.BatchResults) error {
	f.mentioned = f.mentioned[:0]
	rows, err := br.Query()
	if err != nil {
		return err
	}
	for rows.Next() {
		var m mention
		if err := rows.Scan(&m.room, &m.seq, &m.user); err != nil {
			rows.Close()
			return err
		}
		f.mentioned = append(f.mentioned, m)
	}
	rows.Close()
	return rows.Err()
}

// runArrays fills the (room, n) arrays of the set-based seq bump.
func (f *flusher) runArrays(runs []roomRun) {
	f.runRooms, f.runNs = f.runRooms[:0], f.runNs[:0]
	for _, r := range runs {
		f.runRooms = append(f.runRooms, r.room)
		f.runNs = append(f.runNs, r.n)
	}
}

// readBumps reads the set-based seq bump's (id, last_seq) rows into
// runs[i].last and found. A room that returns no row does not exist, which
// fails only that run's requests.
func (f *flusher) readBumps(br pgx.BatchResults, runs []roomRun) error {
	for i := range runs {
		runs[i].found = false
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var room, last int64
		if err := rows.Scan(&room, &last); err != nil {
			return err
		}
		i, ok := slices.BinarySearchFunc(runs, room, func(r roomRun, room int64) int { return cmp.Compare(r.room, room) })
		if !ok {
			return fmt.Errorf("seq bump returned unexpected room %d", room)
		}
		runs[i].last, runs[i].found = last, true
	}
	return rows.Err()
}

// fill gives every undecided primary of a committed attempt its message,
// or not-found when its room does not exist.
func (f *flusher) fill(runs []roomRun, ts time.Time) {
	for _, r := range runs {
		k := int64(0)
		for _, p := range f.primaries[r.start:r.end] {
			if p.decided {
				continue
			}
			k++
			if !r.found {
				p.res = SendResult{Err: fmt.Errorf("store: send to room %d: %w", r.room, chatcore.ErrNotFound)}
				continue
			}
			p.res = SendResult{Msg: chatcore.Message{
				Room:  r.room,
				Seq:   r.last - r.n + k,
				User:  chatcore.UserRef{ID: p.req.UserID, Name: p.req.UserName},
				Body:  p.req.Body,
				CID:   p.req.CID,
				TS:    ts,
				Files: p.req.Files,
			}}
			if len(p.req.Mentions) > 0 {
				for _, m := range f.mentioned {
					if m.room == r.room && m.seq == p.res.Msg.Seq {
						p.res.Msg.Mentioned = append(p.res.Msg.Mentioned, m.user)
					}
				}
			}
		}
	}
}

const (
	// sqlFlush is the whole flush as one statement: lock the rooms in
	// ascending id order, bump their last_seq, and insert the messages with
	// seq = new last_seq + off, joining the UPDATE's RETURNING rows rather
	// than re-reading rooms. Lock order is what keeps concurrent flushers
	// (and instances) deadlock-free, and a join-driven UPDATE locks in plan
	// order, so the CTE first takes the row locks in ascending id order; the
	// UPDATE only touches rows the CTE has already locked (r.id IN locked),
	// whatever plan it picks. Rooms that do not exist return no row and
	// their messages fall out of the join. Data-modifying CTEs always run to
	// completion, and all of it is one atomic statement. Versus one pipelined
	// UPDATE ... RETURNING per room plus the INSERT (update-per-room in
	// BenchmarkBatcherThroughput): 30.5-33 vs 33.8-38 us Postgres CPU and
	// 12 vs 15.5 us Go CPU per message, and no re-read of rooms.
	sqlFlush = `
		WITH locked AS (
			SELECT id FROM rooms WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE
		), bumped AS (
			UPDATE rooms r SET last_seq = r.last_seq + x.n
			FROM unnest($1::bigint[], $2::bigint[]) AS x(id, n)
			WHERE r.id = x.id AND r.id IN (SELECT id FROM locked)
			RETURNING r.id, r.last_seq
		), ins AS (
			INSERT INTO messages (room_id, seq, user_id, body, client_id, created_at)
			SELECT m.room, b.last_seq + m.off, m.uid, m.body, NULLIF(m.cid, ''), $8
			FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[]) AS m(room, off, uid, body, cid)
			JOIN bumped b ON b.id = m.room
		)
		SELECT id, last_seq FROM bumped`

	// sqlStoreMentions records the members mentioned by a flush's messages
	// (message i: room, off as in sqlFlush, author, its @names joined by
	// spaces) at the seq the bump gave the message, read back from the
	// rooms row this transaction updated. Names are matched without spaces
	// and lowercased, through idx_users_mention (migration 0010), then
	// checked against the room's members by primary key: the cost is the
	// names', not the room's size. Returns (room, seq, user) per mention.
	sqlStoreMentions = `
		INSERT INTO mentions (user_id, room_id, seq)
		SELECT DISTINCT ru.user_id, x.room, r.last_seq + x.off
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[]) AS x(room, off, author, names)
		JOIN rooms r ON r.id = x.room
		JOIN users u ON lower(replace(u.name, ' ', '')) = ANY(string_to_array(x.names, ' '))
		JOIN room_users ru ON ru.room_id = x.room AND ru.user_id = u.id
		WHERE u.id <> x.author
		ON CONFLICT DO NOTHING
		RETURNING room_id, seq, user_id`

	// sqlAttachFiles attaches the files of a flush's messages (migration
	// 0007): file i to its room's bumped last_seq + off, raising CG409 when
	// one is not its sender's unattached upload to that room.
	sqlAttachFiles = `SELECT attach_files($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])`

	// sqlFlushOne is sqlFlush for a flush that touches one room, the usual
	// case below a few thousand messages per second: a transaction that
	// locks a single row cannot be part of a deadlock, so the UPDATE takes
	// the lock itself. Skipping the locking CTE saves a tuple lock (a WAL
	// record and a dirtied buffer) and the unnest of the run arrays per
	// flush. Same rows, same answer: (id, last_seq), none when the room does
	// not exist.
	sqlFlushOne = `
		WITH bumped AS (
			UPDATE rooms SET last_seq = last_seq + $2 WHERE id = $1
			RETURNING id, last_seq
		), ins AS (
			INSERT INTO messages (room_id, seq, user_id, body, client_id, created_at)
			SELECT b.id, b.last_seq + m.off, m.uid, m.body, NULLIF(m.cid, ''), $7
			FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[]) AS m(off, uid, body, cid)
			CROSS JOIN bumped b
		)
		SELECT id, last_seq FROM bumped`

	// sqlFlushSingle is sqlFlushOne for a flush of one message, what
	// nearly every flush is at everyday rates (1.04-1.18 messages per flush
	// at 1,000 sends/s): scalar parameters instead of one-element arrays,
	// so pgx encodes less and Postgres runs no unnest (pgbench at 1,000/s:
	// 19.8 / 25.8 / 19.8% of a core against 20.9 / 26.1 / 21.8%, BENCHMARKS
	// "What stands between (a)/(b) and 1.5x").
	sqlFlushSingle = `
		WITH bumped AS (
			UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1
			RETURNING id, last_seq
		), ins AS (
			INSERT INTO messages (room_id, seq, user_id, body, client_id, created_at)
			SELECT b.id, b.last_seq, $2::bigint, $3::text, NULLIF($4::text, ''), $5::timestamptz
			FROM bumped b
		)
		SELECT id, last_seq FROM bumped`

	sqlFindDuplicates = `
		SELECT m.user_id, m.client_id, m.room_id, m.seq, m.body, m.created_at, m.kind
		FROM unnest($1::bigint[], $2::text[]) AS k(uid, cid)
		JOIN messages m ON m.user_id = k.uid AND m.client_id = k.cid`
)

// lookupDuplicates finds primaries whose (user, cid) is already stored, with
// one query, and answers them with the stored message as duplicates.
func (f *flusher) lookupDuplicates() error {
	f.dupUsers, f.dupCIDs = f.dupUsers[:0], f.dupCIDs[:0]
	for _, p := range f.primaries {
		if p.req.CID != "" {
			f.dupUsers = append(f.dupUsers, p.req.UserID)
			f.dupCIDs = append(f.dupCIDs, p.req.CID)
		}
	}
	if len(f.dupUsers) == 0 {
		return nil
	}
	return f.b.s.run(context.Background(), "batch_duplicates", func(ctx context.Context) (int, error) {
		rows, err := f.b.s.pool.Query(ctx, sqlFindDuplicates, f.dupUsers, f.dupCIDs)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var k dupKey
			var m chatcore.Message
			var kind int16
			if err := rows.Scan(&k.user, &k.cid, &m.Room, &m.Seq, &m.Body, &m.TS, &kind); err != nil {
				return n, err
			}
			n++
			p := f.keys[k]
			if p == nil {
				continue
			}
			m.Kind = chatcore.Kind(kind) // a cid an event used: the caller's conflict
			m.User = chatcore.UserRef{ID: k.user, Name: p.req.UserName}
			m.CID = k.cid
			m.TS = m.TS.UTC()
			p.res, p.decided = SendResult{Msg: m, Duplicate: true}, true
		}
		return n, rows.Err()
	})
}
