package main

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// Plan is one worker's share of a run: its users (whole rooms only) and the
// shared clock. The parent gives every -procs child the same origin and send
// start so their per-second series add up.
type Plan struct {
	Index     int        `json:"index"`
	Config    Config     `json:"config"`
	Users     []PlanUser `json:"users"`
	Origin    time.Time  `json:"origin"`
	SendStart time.Time  `json:"send_start"`
	Rate      float64    `json:"rate"`
	APIRate   float64    `json:"api_rate"`
	Seconds   int        `json:"seconds"`
	RunID     string     `json:"run_id"`
}

// PlanUser is a seeded user with its place in the whole run.
type PlanUser struct {
	SeedUser
	Global int   `json:"global"` // index among all users: picks URL and source address
	Room   int64 `json:"room"`
}

type worker struct {
	plan    *Plan
	cfg     *Config
	api     *apiClient
	runID   string
	logf    func(string, ...any)
	errs    *errorLog
	rooms   map[int64]*roomState
	clients []*client
	// wsDialer dials the Socket.IO peer (Chatgate's connections go
	// through api's chatclient, which holds the same dialer).
	wsDialer *websocket.Dialer

	rec                           *recorder
	connectH, ackH, reconnectH    histSet
	lagH                          histSet
	sentS, ackedS, deliveredS     *series
	connectedS                    *series
	lastDelivery                  atomic.Int64
	stopping                      atomic.Bool
	connected, usersUp            atomic.Int64
	sent, acked, sendErrors       atomic.Int64
	rateLimited, tooSlow, drained atomic.Int64
	unauthorized, dropped         atomic.Int64
	reconnects, dialErrors        atomic.Int64
	apiStats                      *apiStats
	ops                           [numStats]atomic.Int64
}

func newWorker(plan *Plan, logf func(string, ...any)) *worker {
	cfg := &plan.Config
	sd := newSourceDialer(cfg.SourceIPs, 10*time.Second)
	w := &worker{
		plan:       plan,
		cfg:        cfg,
		runID:      plan.RunID,
		logf:       logf,
		errs:       newErrorLog(30),
		rooms:      map[int64]*roomState{},
		rec:        newRecorder(plan.Origin, 4*runtime.GOMAXPROCS(0)),
		sentS:      newSeries(plan.Origin, plan.Seconds),
		ackedS:     newSeries(plan.Origin, plan.Seconds),
		deliveredS: newSeries(plan.Origin, plan.Seconds),
		connectedS: newSeries(plan.Origin, plan.Seconds),
		apiStats:   newAPIStats(),
	}
	// REST and the WebSockets share one chatclient: the source addresses,
	// the connection pool, this dialer.
	w.wsDialer = &websocket.Dialer{
		NetDialContext:   sd.DialContext,
		HandshakeTimeout: 10 * time.Second,
		// Small buffers: 10k connections × the 4 KiB defaults is 80 MB
		// of generator memory; a batched frame larger than the buffer
		// is still read whole.
		ReadBufferSize:    2048,
		WriteBufferSize:   1024,
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: cfg.Compression,
	}
	w.api = newAPIClient(sd, 256, w.wsDialer)
	for i, u := range plan.Users {
		rs := w.rooms[u.Room]
		if rs == nil {
			rs = &roomState{id: u.Room, targets: newRoomTargets()}
			w.rooms[u.Room] = rs
		}
		c := newClient(w, u, rs, i)
		c.observer = len(rs.members) == 0
		rs.members = append(rs.members, c)
		w.clients = append(w.clients, c)
	}
	return w
}

// delivered records a new delivery of a stream entry received at now.
func (w *worker) delivered(shard int, kind entryKind, body, cid string, now time.Time) {
	w.deliveredS.add(now, 1)
	if t, ok := entryTime(body, cid); ok {
		w.rec.record(shard, kind, now, now.Sub(t))
	}
	ns := now.UnixNano()
	for {
		cur := w.lastDelivery.Load()
		if ns <= cur || w.lastDelivery.CompareAndSwap(cur, ns) {
			return
		}
	}
}

// run executes the plan: ramp connections, send on schedule, drain, check,
// disconnect. It returns this worker's measurements.
func (w *worker) run(ctx context.Context) (*Partial, error) {
	cpu0 := cpuSeconds()
	clientCtx, cancelClients := context.WithCancel(ctx)
	defer cancelClients()

	go w.sampleConnected(clientCtx)
	w.ramp(clientCtx)

	if wait := time.Until(w.plan.SendStart); wait > 0 {
		w.logf("worker %d: %d/%d connected, sending in %s", w.plan.Index, w.connected.Load(), len(w.clients), wait.Round(time.Millisecond))
		if !sleepCtx(ctx, wait) {
			return nil, ctx.Err()
		}
	}
	if up := w.connected.Load(); up < int64(len(w.clients)) {
		w.logf("worker %d: only %d/%d connected at send start", w.plan.Index, up, len(w.clients))
	}
	sendEnd := w.plan.SendStart.Add(w.cfg.Duration)
	var wg sync.WaitGroup
	if w.plan.APIRate > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.apiLoad(clientCtx, w.plan.SendStart, sendEnd)
		}()
	}
	w.sendLoop(ctx, sendEnd)
	wg.Wait()
	w.drain(ctx, sendEnd.Add(w.cfg.Drain))

	// Disconnect everyone before counting: the trackers must be frozen, or
	// a delivery landing between the final seq and the count would be
	// counted as delivered but not as owed. What has not arrived by now
	// (the drain is over) is lost. The parent's leak check follows.
	w.stopping.Store(true)
	cancelClients()
	var sg sync.WaitGroup
	for _, c := range w.clients {
		sg.Add(1)
		go func() {
			defer sg.Done()
			c.stop(3 * time.Second)
		}()
	}
	sg.Wait()
	finals := w.finalSeqs(ctx)
	p := w.account(finals)
	// Idle REST keep-alives hold server goroutines; the leak check follows.
	w.api.http.CloseIdleConnections()

	p.SendStart, p.SendEnd = w.plan.SendStart, sendEnd
	if ns := w.lastDelivery.Load(); ns > 0 {
		p.LastDelivery = time.Unix(0, ns)
	}
	total, byKind, tl := w.rec.finish()
	p.Latency.H = total
	for k, h := range byKind {
		if h != nil && h.TotalCount() > 0 {
			if p.LatencyByKind == nil {
				p.LatencyByKind = map[string]Hist{}
			}
			p.LatencyByKind[kindNames[k]] = Hist{h}
		}
	}
	if w.cfg.Mix.events() {
		p.Ops = map[string]int64{}
		for i := range w.ops {
			p.Ops[statNames[i]] = w.ops[i].Load()
		}
	}
	p.Timeline.Latency = map[int]Hist{}
	for sec, h := range tl {
		p.Timeline.Latency[sec] = Hist{h}
	}
	p.Connect.H = w.connectH.snapshot()
	p.Ack.H = w.ackH.snapshot()
	p.SendLag.H = w.lagH.snapshot()
	p.Reconnect.H = w.reconnectH.snapshot()
	p.API = w.apiStats.snapshot()
	p.Timeline.Sent = w.sentS.values()
	p.Timeline.Acked = w.ackedS.values()
	p.Timeline.Delivered = w.deliveredS.values()
	p.Timeline.Connected = w.connectedS.values()
	p.GeneratorCPUSeconds = cpuSeconds() - cpu0
	p.Errors = w.errs.snapshot()
	return p, nil
}

// ramp starts the clients evenly over the ramp time, at most
// ConnectConc handshakes in flight.
func (w *worker) ramp(ctx context.Context) {
	n := len(w.clients)
	if n == 0 {
		return
	}
	step := w.cfg.Ramp / time.Duration(n)
	sem := make(chan struct{}, w.cfg.ConnectConc)
	for i, c := range w.clients {
		if !sleepCtx(ctx, time.Until(w.plan.Origin.Add(step*time.Duration(i)))) {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		go func() {
			// Hold the slot until the first subscribe or a short timeout, so
			// handshakes, not goroutines, are what is bounded.
			go c.run(ctx)
			t := time.NewTimer(10 * time.Second)
			select {
			case <-c.firstUp:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			<-sem
		}()
	}
	// Wait for the stragglers so connect time is not mixed with sending.
	deadline := w.plan.SendStart
	for w.usersUp.Load() < int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *worker) sampleConnected(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w.connectedS.set(secondIndex(w.plan.Origin, now), w.connected.Load())
		}
	}
}

// sendLoop is the open-loop schedule: send k is due at SendStart + k/rate
// whatever happened to earlier sends. Senders take turns so each user sends
// rate/users per second.
func (w *worker) sendLoop(ctx context.Context, end time.Time) {
	if w.plan.Rate <= 0 || len(w.clients) == 0 {
		sleepCtx(ctx, time.Until(end))
		return
	}
	total := int64(w.plan.Rate * w.cfg.Duration.Seconds())
	// Each operation is drawn by the mix's weights (sends only by
	// default); the seed makes a worker's draws the same every run.
	rng := rand.New(rand.NewPCG(uint64(w.plan.Index)+1, 15))
	mix := w.cfg.Mix
	for k := int64(0); k < total; k++ {
		due := w.plan.SendStart.Add(time.Duration(float64(k) * float64(time.Second) / w.plan.Rate))
		if d := time.Until(due); d > 0 && !sleepCtx(ctx, d) {
			return
		}
		kind := opSend
		if mix.events() {
			kind = mix.draw(rng.Float64())
		}
		w.clients[k%int64(len(w.clients))].enqueue(due, kind, rng)
	}
	sleepCtx(ctx, time.Until(end))
}

// drain waits until every send is acked and every member has everything up
// to its room's highest acked seq, or until the deadline.
func (w *worker) drain(ctx context.Context, deadline time.Time) {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if w.settled() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !w.settled() {
		w.logf("worker %d: drain timed out with deliveries or acks outstanding", w.plan.Index)
	}
}

func (w *worker) settled() bool {
	for _, c := range w.clients {
		if c.unacked() > 0 {
			return false
		}
	}
	for _, rs := range w.rooms {
		final := rs.maxAcked.Load()
		for _, c := range rs.members {
			if c.everSubscribed() && !c.complete(final) {
				return false
			}
		}
	}
	return true
}

// finalSeqs is each room's last seq: the highest of what we were acked,
// what any member saw, and what the server reports.
func (w *worker) finalSeqs(ctx context.Context) map[int64]int64 {
	out := make(map[int64]int64, len(w.rooms))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for id, rs := range w.rooms {
		final := rs.maxAcked.Load()
		for _, c := range rs.members {
			if s := c.maxSeen(); s > final {
				final = s
			}
		}
		if w.cfg.Protocol == protoSocketIO {
			out[id] = final // the peer has no REST API to ask
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := rs.members[0]
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if info, err := w.api.as(c.baseURL(), c.token()).Room(rctx, id); err == nil && info.LastSeq > final {
				final = info.LastSeq
			} else if err != nil {
				w.errs.add("final room check: " + shortErr(err))
			}
			mu.Lock()
			out[id] = final
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// account totals the trackers against the final seqs.
func (w *worker) account(finals map[int64]int64) *Partial {
	p := &Partial{Worker: w.plan.Index, UsersPlanned: len(w.clients)}
	for _, c := range w.clients {
		started, exp, del, lost, dup, reord, gaps, rec := c.snapshotCounts(finals[c.room.id])
		if started {
			p.UsersConnected++
		}
		p.ExpectedDeliveries += exp
		p.Delivered += del
		p.Lost += lost
		p.Duplicated += dup
		p.Reordered += reord
		p.Gaps += gaps
		p.Recovered += rec
		p.Unacked += int64(c.unacked())
	}
	for _, rs := range w.rooms {
		rs.mu.Lock()
		p.StoredTwice += rs.storedTwice
		rs.mu.Unlock()
	}
	p.Sent = w.sent.Load()
	p.Acked = w.acked.Load()
	p.SendErrors = w.sendErrors.Load()
	p.RateLimited = w.rateLimited.Load()
	p.TooSlow = w.tooSlow.Load()
	p.Drained = w.drained.Load()
	p.Unauthorized = w.unauthorized.Load()
	p.Dropped = w.dropped.Load()
	p.Reconnects = w.reconnects.Load()
	p.DialErrors = w.dialErrors.Load()
	return p
}

// cpuSeconds is this process's user+system CPU time, to report how much of
// the shared machine the generator itself took.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
