package store

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/internal/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// nameRecorder is an Observer that counts queries by name, and failed ones
// under name+"!", so the test can tell which server answered.
type nameRecorder struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *nameRecorder) ObserveQuery(name string, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	if err != nil {
		name += "!"
	}
	r.n[name]++
}

func (r *nameRecorder) ObserveBatch(int, time.Duration) {}

// take returns the counts of the history-read queries since the last take.
func (r *nameRecorder) take() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.n {
		switch k {
		case "history_before", "history_after", "history_before_replica", "history_after_replica",
			"history_before_replica!", "history_after_replica!", "room_last_seq":
			out[k] = v
		}
	}
	r.n = nil
	return out
}

// startPrimaryAndReplica starts a private primary (pgtest: trust auth,
// replication allowed from 127.0.0.1 by initdb's default pg_hba) and
// returns its DSN plus a function that base-backs it up into a hot standby
// on another free port and returns the standby's DSN and server. Both stop
// in t.Cleanup. The machine's own Postgres config is never touched.
func startPrimaryAndReplica(t *testing.T) (primaryDSN string, mkReplica func() (dsn string, replica *pgtest.Server)) {
	t.Helper()
	primary := pgtest.Start(t, `wal_level = replica
max_wal_senders = 4
hot_standby = on`)
	mkReplica = func() (string, *pgtest.Server) {
		dir := filepath.Join(filepath.Dir(primary.DataDir), "replica")
		pgtest.Cmd(t, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.Port), "-U", "postgres",
			"-D", dir, "-R", "-X", "stream", "-c", "fast", "--no-sync")
		replica := pgtest.Run(t, dir)
		return replica.DSN("chatgate"), replica
	}
	return primary.DSN("chatgate"), mkReplica
}

func TestReplicaReads(t *testing.T) {
	primaryDSN, mkReplica := startPrimaryAndReplica(t)
	ctx := ctxT(t)

	// Migrate first (it creates the database) so the base backup has the schema.
	boot, err := New(Config{DSN: primaryDSN, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := boot.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	boot.Close()
	replicaDSN, replicaSrv := mkReplica()

	rec := &nameRecorder{}
	s, err := New(Config{DSN: primaryDSN, ReplicaDSN: replicaDSN, MaxConns: 4, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	b := s.NewBatcher(nil)
	b.Start()
	t.Cleanup(func() { b.Stop(context.Background()) }) //nolint:errcheck

	u := mkUser(t, s, "ann")
	room := mkRoom(t, s, u.ID, "general", false)
	send := func(room int64, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if res := b.Send(ctx, SendRequest{Room: room, UserID: u.ID, Body: fmt.Sprintf("m%d", i)}); res.Err != nil {
				t.Fatal(res.Err)
			}
		}
	}
	// waitReplayed waits until the replica has replayed all the primary's WAL.
	waitReplayed := func() {
		t.Helper()
		var lsn string
		if err := s.pool.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var done bool
			if err := s.replica.pool.QueryRow(ctx, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn).Scan(&done); err != nil {
				t.Fatal(err)
			}
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("replica did not catch up")
			}
		}
	}

	seqs := func(msgs []chatcore.Message) []int64 {
		var out []int64 // nil when empty, like span's "none"
		for i := range msgs {
			out = append(out, msgs[i].Seq)
		}
		return out
	}
	span := func(from, to int64) []int64 { // inclusive, either direction
		var out []int64
		for i := from; ; {
			out = append(out, i)
			if i == to {
				return out
			}
			if from < to {
				i++
			} else {
				i--
			}
		}
	}
	// check reads one page through HistoryRead (after < 0) or AfterRead,
	// asserts its seqs and hasMore, that it equals the primary's page, and
	// that exactly the queries in want ran for it.
	check := func(label string, room, before, after int64, limit int, wantSeqs []int64, wantMore bool, want map[string]int) {
		t.Helper()
		var got, prim []chatcore.Message
		var more, pmore bool
		var err error
		rec.take()
		if after < 0 {
			got, more, err = s.HistoryRead(ctx, room, before, limit)
		} else {
			got, more, err = s.AfterRead(ctx, room, after, limit)
		}
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		names := rec.take()
		if after < 0 {
			prim, pmore, err = s.History(ctx, room, before, limit)
		} else {
			prim, pmore, err = s.After(ctx, room, after, limit)
		}
		if err != nil {
			t.Fatalf("%s: primary: %v", label, err)
		}
		if !reflect.DeepEqual(seqs(got), wantSeqs) || more != wantMore {
			t.Errorf("%s: seqs %v more %v, want %v %v", label, seqs(got), more, wantSeqs, wantMore)
		}
		if !reflect.DeepEqual(got, prim) || more != pmore {
			t.Errorf("%s: page differs from the primary's:\n%+v\n%+v", label, got, prim)
		}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("%s: queries %v, want %v", label, names, want)
		}
	}
	const (
		hb, ha   = "history_before", "history_after"
		hbr, har = "history_before_replica", "history_after_replica"
		last     = "room_last_seq"
	)

	// Caught up: every page comes from the replica. Pages below a cursor or
	// within the replica's range need no primary round trip at all.
	send(room.ID, 30)
	waitReplayed()
	check("newest", room.ID, 0, -1, 10, span(30, 21), true, map[string]int{last: 1, hbr: 1})
	check("below 21", room.ID, 21, -1, 10, span(20, 11), true, map[string]int{hbr: 1})
	check("below 3", room.ID, 3, -1, 10, span(2, 1), false, map[string]int{hbr: 1})
	check("after 0", room.ID, 0, 0, 10, span(1, 10), true, map[string]int{har: 1})
	check("after 25", room.ID, 0, 25, 10, span(26, 30), false, map[string]int{har: 1, last: 1})
	check("empty after", room.ID, 0, 30, 10, nil, false, map[string]int{har: 1, last: 1})

	// Lagging: replay paused, 10 more messages and a new room on the primary.
	if _, err := s.replica.pool.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var state string
		if err := s.replica.pool.QueryRow(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "paused" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replay did not pause")
		}
	}
	send(room.ID, 10)
	room2 := mkRoom(t, s, u.ID, "new", false)
	send(room2.ID, 3)

	// Pages that need seqs past 30 fall back to the primary; older ones stay
	// on the replica.
	check("lag newest", room.ID, 0, -1, 10, span(40, 31), true, map[string]int{last: 1, hbr: 1, hb: 1})
	check("lag below 41", room.ID, 41, -1, 5, span(40, 36), true, map[string]int{hbr: 1, last: 1, hb: 1})
	check("lag below 31", room.ID, 31, -1, 10, span(30, 21), true, map[string]int{hbr: 1})
	check("lag after 25", room.ID, 0, 25, 10, span(26, 35), true, map[string]int{har: 1, last: 1, ha: 1})
	check("lag after 5", room.ID, 0, 5, 10, span(6, 15), true, map[string]int{har: 1})
	check("lag unknown room", room2.ID, 0, -1, 10, span(3, 1), false, map[string]int{last: 1, hbr: 1, hb: 1})
	check("lag unknown room after", room2.ID, 0, 0, 10, span(1, 3), false, map[string]int{har: 1, ha: 1})

	// Resumed: back on the replica.
	if _, err := s.replica.pool.Exec(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	waitReplayed()
	check("resumed newest", room.ID, 0, -1, 10, span(40, 31), true, map[string]int{last: 1, hbr: 1})
	check("resumed after 25", room.ID, 0, 25, 10, span(26, 35), true, map[string]int{har: 1})
	check("resumed new room", room2.ID, 0, -1, 10, span(3, 1), false, map[string]int{last: 1, hbr: 1})

	// Replica down: the failure is counted under the replica name, the read
	// is answered by the primary, and the next reads skip the replica.
	replicaSrv.Stop("fast")
	check("down newest", room.ID, 0, -1, 10, span(40, 31), true, map[string]int{last: 1, hbr + "!": 1, hb: 1})
	check("down below 21", room.ID, 21, -1, 10, span(20, 11), true, map[string]int{hb: 1})
	check("down after 0", room.ID, 0, 0, 10, span(1, 10), true, map[string]int{ha: 1})
}

func TestReplicaConfig(t *testing.T) {
	// Without a replica the Read methods are the primary's.
	reset(t)
	u := mkUser(t, testStore, "ann")
	r := mkRoom(t, testStore, u.ID, "general", false)
	msgs, more, err := testStore.HistoryRead(ctxT(t), r.ID, 0, 10)
	if err != nil || len(msgs) != 0 || more {
		t.Fatalf("HistoryRead without replica: %v %v %v", msgs, more, err)
	}
	if _, _, err := testStore.AfterRead(ctxT(t), r.ID, 0, 10); err != nil {
		t.Fatal(err)
	}
	// A replica DSN is parsed up front, but nothing is dialled in New.
	if _, err := New(Config{DSN: testDSN, ReplicaDSN: "postgres://%zz"}); err == nil {
		t.Fatal("bad replica DSN accepted")
	}
	s, err := New(Config{DSN: testDSN, ReplicaDSN: "postgres://postgres@127.0.0.1:1/none?sslmode=disable"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestPoolConfigs: the primary's and the replica's pools come from one
// configuration: same size and connect timeout, the replica inheriting the
// primary's session parameters unless its DSN sets its own.
func TestPoolConfigs(t *testing.T) {
	s, err := New(Config{DSN: "postgres://u@127.0.0.1:1/a?application_name=mine&search_path=x&connect_timeout=60",
		ReplicaDSN: "postgres://u@127.0.0.1:2/a?statement_timeout=9000", MaxConns: 7, StatementTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, r := s.pool.Config(), s.replica.pool.Config()
	for _, c := range []*pgxpool.Config{p, r} {
		if c.MaxConns != 7 || c.MinConns != 0 || c.ConnConfig.ConnectTimeout != 3*time.Second {
			t.Fatalf("pool %s: max %d min %d connect timeout %v", c.ConnConfig.Host, c.MaxConns, c.MinConns, c.ConnConfig.ConnectTimeout)
		}
	}
	want := map[string][2]string{
		"statement_timeout":                   {"2000", "9000"},
		"lock_timeout":                        {"2000", "2000"},
		"idle_in_transaction_session_timeout": {"4000", "4000"},
		"plan_cache_mode":                     {"force_generic_plan", "force_generic_plan"},
		"application_name":                    {"mine", "mine"},
		"search_path":                         {"x", "x"},
	}
	for k, v := range want {
		if got := [2]string{p.ConnConfig.RuntimeParams[k], r.ConnConfig.RuntimeParams[k]}; got != v {
			t.Errorf("%s: primary, replica %q, want %q", k, got, v)
		}
	}
}
