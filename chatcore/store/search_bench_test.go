package store

import (
	"context"

	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkSearch measures search latency over 1,000,000 messages in 1,000
// rooms for a member of 50 of them, in a database of its own
// (chatgate_search_bench; CHATGATE_SEARCH_BENCH_POSTGRES overrides), seeded
// once by generate_series (about two minutes here) and reused:
//
//	go test -run '^$' -bench Search -benchtime 200x ./chatcore/store/
//
// Bodies are 12 words w<k> with k log-uniform in [1, 50000), so word
// frequency falls as 1/rank (Zipf): w1 is in 55% of messages, w10 in 10%,
// w100 in 1.1%, w1000 in 0.11%, w20000 in 57 messages. Each case reports
// the p50 and p95 of one page (20 results) in milliseconds.
func BenchmarkSearch(b *testing.B) {
	dsn := os.Getenv("CHATGATE_SEARCH_BENCH_POSTGRES")
	if dsn == "" {
		dsn = dsnWithDB(b, "chatgate_search_bench")
	}
	s, err := New(Config{DSN: dsn, StatementTimeout: time.Minute, SlowQuery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	seedSearchBench(b, s)
	const user = 7 // member of rooms 7, 27, 47, ... 987
	cases := []struct {
		name, q string
		room    int64
		page    int
	}{
		{"common-w1", "w1", 0, 1},
		{"common-w10", "w10", 0, 1},
		{"mid-w100", "w100", 0, 1},
		{"rare-w1000", "w1000", 0, 1},
		{"rarest-w20000", "w20000", 0, 1},
		{"two-words", "w10 w100", 0, 1},
		{"phrase", `"w1 w2"`, 0, 1},
		{"common-w10/page3", "w10", 0, 3},
		{"mid-w100/page3", "w100", 0, 3},
		{"room/common-w10", "w10", 7, 1},
		{"room/rare-w1000", "w1000", 7, 1},
		{"room/common-w10/page3", "w10", 7, 3},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			q := Search{User: user, Text: c.q, Room: c.room, Limit: 20}
			// The cursor of the page asked for: fetched once, untimed.
			for p := 1; p < c.page; p++ {
				hits, more, err := s.SearchMessages(ctx, q)
				if err != nil || !more {
					b.Fatalf("page %d: more=%v err=%v", p, more, err)
				}
				last := hits[len(hits)-1].Msg
				q.Before = &SearchCursor{TS: last.TS, Room: last.Room, Seq: last.Seq}
			}
			var results int
			durs := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				hits, _, err := s.SearchMessages(ctx, q)
				durs = append(durs, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				results = len(hits)
			}
			b.StopTimer()
			slices.Sort(durs)
			ms := func(p float64) float64 {
				return float64(durs[int(p*float64(len(durs)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.95), "p95-ms")
			b.ReportMetric(float64(results), "results")
		})
	}
}

// seedSearchBench fills an empty bench database: 1,000 users, 1,000 rooms
// of 1,000 messages each (inserted in time order across rooms, as a live
// server would), user u in the 50 rooms u, u+20, u+40, ... The indexes
// on messages are built after the rows, which is several times faster.
func seedSearchBench(b *testing.B, s *Store) {
	ctx := context.Background()
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM rooms").Scan(&n); err != nil {
		b.Fatal(err)
	}
	if n >= 1000 {
		return
	}
	start := time.Now()
	for _, q := range []string{
		`INSERT INTO users (id, name, email, password_hash)
		 SELECT u, 'user' || u, 'user' || u || '@search.bench', 'x' FROM generate_series(1, 1000) u`,
		`INSERT INTO rooms (id, name, created_by, last_seq, member_count)
		 SELECT r, 'room-' || r, 1, 1000, 50 FROM generate_series(1, 1000) r`,
		`INSERT INTO room_users (room_id, user_id)
		 SELECT ((u + 20 * k - 1) % 1000) + 1, u FROM generate_series(1, 1000) u, generate_series(0, 49) k`,
		`SELECT setval('users_id_seq', 1000), setval('rooms_id_seq', 1000)`,
		`DROP INDEX idx_messages_search`,
		`DROP INDEX idx_messages_search_time`,
		`DROP INDEX idx_messages_user_client`,
		`INSERT INTO messages (room_id, seq, user_id, body, created_at)
		 SELECT (i % 1000) + 1, i / 1000 + 1, ((i * 7919) % 1000) + 1,
		        (SELECT string_agg('w' || floor(exp(random() * ln(50000)))::int, ' ')
		         FROM generate_series(1, 12) WHERE i >= 0),
		        timestamptz '2026-01-01' + i * interval '100 ms'
		 FROM generate_series(0::bigint, 999999) i`,
		`CREATE INDEX idx_messages_search_time ON messages (room_id, created_at DESC)`,
		`CREATE UNIQUE INDEX idx_messages_user_client ON messages (user_id, client_id)`,
		`CREATE INDEX idx_messages_search ON messages USING gin (search_tsv)`,
		`VACUUM ANALYZE messages`,
		`ANALYZE`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
	b.Logf("seeded 1,000,000 messages in %v", time.Since(start).Round(time.Second))
}
