package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatcore"
)

// Benchmarks use their own database, chatgate_bench (CHATGATE_BENCH_POSTGRES
// overrides), so the 1M-message room is seeded once and reused across runs.
//
//	go test -run XXX -bench . -benchtime 5s ./chatcore/store/

var (
	benchOnce  sync.Once
	benchStore *Store
	benchErr   error
)

func openBench(b *testing.B) *Store {
	benchOnce.Do(func() {
		dsn := os.Getenv("CHATGATE_BENCH_POSTGRES")
		if dsn == "" {
			dsn = dsnWithDB(b, "chatgate_bench")
		}
		benchStore, benchErr = New(Config{DSN: dsn})
		if benchErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			benchErr = benchStore.Migrate(ctx)
			cancel()
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchStore
}

// benchFixture returns the bench user and count rooms named prefix-i,
// creating them when missing.
func benchFixture(b *testing.B, s *Store, prefix string, count int) (chatcore.User, []int64) {
	ctx := ctxT(b)
	u, err := s.UserByEmail(ctx, "bench@example.org")
	if err != nil {
		if u, err = s.CreateUser(ctx, "bench", "bench@example.org", "x"); err != nil {
			b.Fatal(err)
		}
	}
	var ids []int64
	rows, err := s.pool.Query(ctx, "SELECT id FROM rooms WHERE name LIKE $1 || '-%' ORDER BY id LIMIT $2", prefix, count)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id) //nolint:errcheck
		ids = append(ids, id)
	}
	rows.Close()
	for i := len(ids); i < count; i++ {
		r, err := s.CreateRoom(ctx, u.ID, fmt.Sprintf("%s-%d", prefix, i), false)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	return u, ids
}

// BenchmarkBatcherThroughput keeps 256 sends in flight across 100 rooms
// (every send carries a client id, as the WebSocket path does) and reports
// committed messages per second. The sub-benchmarks compare the insert
// strategies (strategies_test.go) and the duplicate pre-check.
func BenchmarkBatcherThroughput(b *testing.B) {
	s := openBench(b)
	u, rooms := benchFixture(b, s, "bench-tp", 100)
	cases := []struct {
		name     string
		write    writeFunc // nil: the production one
		precheck bool
		workers  int
	}{
		{"default", nil, false, 0},
		{"workers=1", nil, false, 1},
		{"workers=2", nil, false, 2},
		{"workers=4", nil, false, 4},
		{"precheck-always", nil, true, 0},
		{"update-per-room", writePerRoom, false, 0},
		{"tx-copyfrom", writeCopy, false, 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var flushes, msgsOut atomic.Int64
			obs := &sumObserver{}
			s.obs = obs
			defer func() { s.obs = nopObserver{} }()
			workers := c.workers
			if workers == 0 {
				workers = s.cfg.BatchWorkers
			}
			bt := s.newBatcher(func(m []chatcore.Message) { flushes.Add(1); msgsOut.Add(int64(len(m))) }, workers)
			bt.write, bt.precheck = c.write, c.precheck
			bt.Start()
			const inFlight = 256
			sem := make(chan struct{}, inFlight)
			var wg sync.WaitGroup
			var failed atomic.Int64
			run := fmt.Sprintf("%x", rand.Uint64())
			body := "benchmark message body of about one hundred bytes, like a typical chat line in the load test.."
			// Warm up: open the flushers' connections and prepare statements.
			for i := 0; i < 512; i++ {
				bt.Submit(SendRequest{Room: rooms[i%len(rooms)], UserID: u.ID, Body: body, CID: run + "-w" + fmt.Sprint(i)}, nil) //nolint:errcheck
			}
			time.Sleep(200 * time.Millisecond)
			cpu := startCPU(b, s)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				sem <- struct{}{}
				wg.Add(1)
				req := SendRequest{Room: rooms[i%len(rooms)], UserID: u.ID, UserName: "bench", Body: body, CID: run + "-" + fmt.Sprint(i)}
				err := bt.Submit(req, func(r SendResult) {
					if r.Err != nil {
						failed.Add(1)
					}
					<-sem
					wg.Done()
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			cpu.report(b, b.N)
			if err := bt.Stop(context.Background()); err != nil {
				b.Fatal(err)
			}
			if failed.Load() > 0 {
				b.Fatalf("%d sends failed", failed.Load())
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			if f := flushes.Load(); f > 0 {
				b.ReportMetric(float64(msgsOut.Load())/float64(f), "msgs/flush")
			}
			obs.report(b)
		})
	}
}

const deepMessages = 1_000_000

// seedDeep makes sure room "bench-deep-0" holds deepMessages messages,
// seeding them with one INSERT ... SELECT generate_series when it does not.
func seedDeep(b *testing.B, s *Store) int64 {
	u, rooms := benchFixture(b, s, "bench-deep", 1)
	room := rooms[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	last, err := s.LastSeq(ctx, room)
	if err != nil {
		b.Fatal(err)
	}
	if last >= deepMessages {
		return room
	}
	b.Logf("seeding %d messages (once)", deepMessages)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	for _, q := range []string{
		"SET statement_timeout = 0",
		fmt.Sprintf(`INSERT INTO messages (room_id, seq, user_id, body, client_id, created_at)
			SELECT %d, g, %d, 'seeded message number ' || g, NULL,
			       now() - make_interval(secs => %d - g)
			FROM generate_series(%d, %d) g`, room, u.ID, deepMessages, last+1, deepMessages),
		fmt.Sprintf("UPDATE rooms SET last_seq = %d WHERE id = %d", deepMessages, room),
		"VACUUM ANALYZE messages",
		"RESET statement_timeout",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	return room
}

// BenchmarkHistoryDeep pages 50 messages back from the newest, the middle and
// the oldest end of a 1M-message room and reports p50/p99 per page.
func BenchmarkHistoryDeep(b *testing.B) {
	s := openBench(b)
	room := seedDeep(b, s)
	for _, d := range []struct {
		name   string
		before int64
	}{
		{"newest", 0},
		{"middle", deepMessages / 2},
		{"oldest", 101}, // the page 100..51, one page before the end
	} {
		b.Run(d.name, func(b *testing.B) {
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Wander a little so every page is a different cursor.
				before := d.before
				if before > 0 {
					before -= int64(i % 50)
				}
				start := time.Now()
				msgs, _, err := s.History(ctx, room, before, 50)
				lat = append(lat, time.Since(start))
				if err != nil || len(msgs) != 50 {
					b.Fatalf("page before %d: %d msgs, %v", before, len(msgs), err)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}

// sumObserver averages the batcher's query timings for the report.
type sumObserver struct {
	mu    sync.Mutex
	total map[string]time.Duration
	count map[string]int
}

func (o *sumObserver) ObserveQuery(name string, d time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.total == nil {
		o.total, o.count = map[string]time.Duration{}, map[string]int{}
	}
	o.total[name] += d
	o.count[name]++
}

func (o *sumObserver) ObserveBatch(int, time.Duration) {}

func (o *sumObserver) report(b *testing.B) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, name := range []string{"batch_flush", "batch_duplicates"} {
		if n := o.count[name]; n > 0 {
			b.ReportMetric(float64(o.total[name].Microseconds())/float64(n)/1000, name+"-ms")
		}
	}
}

// cpuMeter measures CPU time (user+system) spent by this process and by the
// store's Postgres backends, which stays meaningful when other work shares
// the machine and wall-clock throughput gets noisy. Linux only (/proc); it
// reports nothing elsewhere.
type cpuMeter struct {
	pids    []int
	pg, go_ time.Duration
}

func startCPU(b *testing.B, s *Store) *cpuMeter {
	m := &cpuMeter{}
	rows, err := s.pool.Query(context.Background(),
		"SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'chatgate'")
	if err == nil {
		for rows.Next() {
			var pid int
			if rows.Scan(&pid) == nil {
				m.pids = append(m.pids, pid)
			}
		}
		rows.Close()
	}
	m.pg, m.go_ = m.sample()
	return m
}

func (m *cpuMeter) sample() (pg, self time.Duration) {
	tick := 10 * time.Millisecond // USER_HZ = 100 on Linux
	for _, pid := range m.pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the ")" that closes the command name; utime and stime
		// are fields 14 and 15 of the whole line.
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if len(f) > 13 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			pg += time.Duration(ut+st) * tick
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return pg, self
}

func (m *cpuMeter) report(b *testing.B, n int) {
	pg, self := m.sample()
	if len(m.pids) > 0 {
		b.ReportMetric(float64((pg-m.pg).Microseconds())/float64(n), "pg-cpu-us/msg")
	}
	b.ReportMetric(float64((self-m.go_).Microseconds())/float64(n), "go-cpu-us/msg")
}
