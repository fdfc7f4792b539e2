package store

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatcore"
)

func TestFoldName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Ann", "ann"},
		{"ANN", "ann"},
		{"Straße", "strasse"},
		{"STRASSE", "strasse"},
		{"Σοφία", "σοφία"},
		{"ΣΟΦΊΑ", "σοφία"},
		{"Émile", "émile"},
		{"E\u0301mile", "émile"},  // decomposed: NFC first
		{"\u212Aelvin", "kelvin"}, // the Kelvin sign folds to k
		{"Zoë 🎉", "zoë 🎉"},
	} {
		if got := FoldName(c.in); got != c.want {
			t.Errorf("FoldName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func names(us []chatcore.UserRef) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Name
	}
	return out
}

func TestSearchUsers(t *testing.T) {
	reset(t)
	s := testStore
	ctx := ctxT(t)
	for i, n := range []string{"Ann", "ann-marie", "ANNA", "Anne", "Straße", "Σοφία", "Bob", "émile", "Émile", "Annette"} {
		if _, err := s.CreateUser(ctx, n, fmt.Sprintf("u%d@example.org", i), "h"); err != nil {
			t.Fatal(err)
		}
	}
	search := func(q string, after UserCursor, limit int) ([]string, UserCursor, bool) {
		t.Helper()
		us, last, more, err := s.SearchUsers(ctx, FoldName(q), after, limit)
		if err != nil {
			t.Fatal(err)
		}
		return names(us), last, more
	}
	// Case-insensitive in every script, in folded order then by id.
	if got, _, more := search("ANN", UserCursor{}, 50); !slices.Equal(got, []string{"Ann", "ann-marie", "ANNA", "Anne", "Annette"}) || more {
		t.Fatalf("ANN: %q more=%v", got, more)
	}
	for q, want := range map[string][]string{
		"strasse": {"Straße"}, "STRAß": {"Straße"}, "σοφ": {"Σοφία"}, "ΣΟΦ": {"Σοφία"},
		"émi": {"émile", "Émile"}, "emi": {}, "zed": {}, "b": {"Bob"},
	} {
		if got, _, _ := search(q, UserCursor{}, 50); !slices.Equal(got, want) {
			t.Errorf("%q: %q, want %q", q, got, want)
		}
	}
	// Pages: keyset after the last row, nothing twice, nothing skipped.
	var all []string
	var cur UserCursor
	for page := 0; ; page++ {
		got, last, more := search("an", cur, 2)
		all = append(all, got...)
		if !more {
			break
		}
		if len(got) != 2 || page > 5 {
			t.Fatalf("page %d: %q", page, got)
		}
		cur = last
	}
	if !slices.Equal(all, []string{"Ann", "ann-marie", "ANNA", "Anne", "Annette"}) {
		t.Fatalf("paged: %q", all)
	}
	// LIKE metacharacters are plain characters here.
	if got, _, _ := search("%", UserCursor{}, 50); len(got) != 0 {
		t.Fatalf("%%: %q", got)
	}
}

// TestSearchUsersAt100k: the directory search is an index range scan
// with 100,000 users (EXPLAIN, and its time).
func TestSearchUsersAt100k(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 100,000 users")
	}
	reset(t)
	s := testStore
	ctx := ctxT(t)
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO users (name, email, password_hash, name_fold)
		SELECT 'User ' || md5(i::text), 'u' || i || '@example.org', 'h', 'user ' || md5(i::text)
		FROM generate_series(1, 100000) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, "ANALYZE users"); err != nil {
		t.Fatal(err)
	}
	// The plan of the store's statement, generic (as a prepared statement
	// ends up after five runs) and custom.
	for _, mode := range []string{"force_generic_plan", "force_custom_plan"} {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var plan string
		_, err = conn.Exec(ctx, "SET plan_cache_mode = "+mode)
		if err == nil {
			_, err = conn.Exec(ctx, `PREPARE q(text, text, text, bigint, int) AS
				SELECT id, name, name_fold FROM users
				WHERE name_fold >= $1 AND name_fold < $2 AND (name_fold, id) > ($3, $4)
				ORDER BY name_fold, id LIMIT $5`)
		}
		if err == nil {
			rows, qerr := conn.Query(ctx, "EXPLAIN EXECUTE q('user ab', 'user ab'||chr(1114111), '', 0, 21)")
			if qerr != nil {
				err = qerr
			} else {
				for rows.Next() {
					var line string
					_ = rows.Scan(&line)
					plan += line + "\n"
				}
				rows.Close()
				err = rows.Err()
			}
		}
		_, _ = conn.Exec(ctx, "DEALLOCATE q")
		_, _ = conn.Exec(ctx, "RESET plan_cache_mode")
		conn.Release()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, "idx_users_name_fold") || strings.Contains(plan, "Seq Scan") {
			t.Fatalf("%s: not a range scan of idx_users_name_fold:\n%s", mode, plan)
		}
	}
	var times []time.Duration
	for i := 0; i < 200; i++ {
		q := fmt.Sprintf("user %02x", i%256)
		start := time.Now()
		us, _, _, err := s.SearchUsers(ctx, q, UserCursor{}, 20)
		times = append(times, time.Since(start))
		if err != nil || len(us) == 0 {
			t.Fatalf("%q: %d users, %v", q, len(us), err)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	t.Logf("directory search at 100,000 users: p50 %v, p99 %v", times[100], times[197])
	if times[197] > 50*time.Millisecond {
		t.Errorf("p99 %v: a range scan takes a millisecond or so", times[197])
	}
}

func TestBackfillNameFold(t *testing.T) {
	reset(t)
	s := testStore
	ctx := ctxT(t)
	if _, err := s.pool.Exec(ctx, `INSERT INTO users (name, email, password_hash)
		VALUES ('ÉMILE', 'e@example.org', 'h'), ('Straße', 's@example.org', 'h')`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if us, _, _, err := s.SearchUsers(ctx, FoldName("émile"), UserCursor{}, 5); err != nil || len(us) != 1 {
		t.Fatalf("émile after the backfill: %v %v", us, err)
	}
	if us, _, _, err := s.SearchUsers(ctx, FoldName("STRASSE"), UserCursor{}, 5); err != nil || len(us) != 1 {
		t.Fatalf("STRASSE after the backfill: %v %v", us, err)
	}
}

func TestOpenDMConcurrent(t *testing.T) {
	reset(t)
	s := testStore
	ctx := ctxT(t)
	a, b := mkUser(t, s, "ann"), mkUser(t, s, "bob")
	const n = 16
	rooms := make([]int64, n)
	createdN := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, y := a.ID, b.ID
			if i%2 == 1 {
				x, y = y, x
			}
			room, created, err := s.OpenDM(ctx, x, y, "ann, bob")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			rooms[i] = room.ID
			if created {
				createdN++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, r := range rooms {
		if r != rooms[0] || r == 0 {
			t.Fatalf("rooms %v: want one", rooms)
		}
	}
	if createdN != 1 {
		t.Fatalf("created %d times", createdN)
	}
	room, err := s.RoomByID(ctx, rooms[0])
	if err != nil || room.Kind != chatcore.KindDM || !room.IsPrivate || room.MemberCount != 2 {
		t.Fatalf("dm room: %+v %v", room, err)
	}
	ms, err := s.Members(ctx, room.ID)
	if err != nil || len(ms) != 2 || ms[0].Role != chatcore.RoleMember || ms[1].Role != chatcore.RoleMember {
		t.Fatalf("members: %+v %v", ms, err)
	}
	for _, u := range []chatcore.User{a, b} {
		dms, err := s.DMs(ctx, u.ID)
		if err != nil || len(dms) != 1 || dms[0].Room != room.ID || dms[0].Peer.ID == u.ID {
			t.Fatalf("DMs of %s: %+v %v", u.Name, dms, err)
		}
	}
	c := mkUser(t, s, "cy")
	if _, _, err := s.OpenDM(ctx, a.ID, 999999, "x"); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	if other, created, err := s.OpenDM(ctx, c.ID, a.ID, "ann, cy"); err != nil || !created || other.ID == room.ID {
		t.Fatalf("another pair: %+v %v %v", other, created, err)
	}
}

func TestUpdateAndDeleteRoom(t *testing.T) {
	reset(t)
	s := testStore
	ctx := ctxT(t)
	owner, member := mkUser(t, s, "owner"), mkUser(t, s, "member")
	room := mkRoom(t, s, owner.ID, "general", false)
	if _, err := s.Join(ctx, room.ID, member.ID, chatcore.RoleMember); err != nil {
		t.Fatal(err)
	}
	topic := "all things"
	if _, err := s.UpdateRoom(ctx, room.ID, member.ID, nil, &topic); !errors.Is(err, chatcore.ErrForbidden) {
		t.Fatalf("member updates: %v", err)
	}
	got, err := s.UpdateRoom(ctx, room.ID, owner.ID, nil, &topic)
	if err != nil || got.Topic != topic || got.Name != "general" {
		t.Fatalf("topic: %+v %v", got, err)
	}
	name := "lobby"
	if got, err = s.UpdateRoom(ctx, room.ID, owner.ID, &name, nil); err != nil || got.Name != "lobby" || got.Topic != topic {
		t.Fatalf("rename: %+v %v", got, err)
	}
	b := s.NewBatcher(func([]chatcore.Message) {})
	file := mkFile(t, s, room.ID, member.ID, "pic")
	res := submitAll(t, b, []SendRequest{{Room: room.ID, UserID: member.ID, Body: "hi @owner", CID: "c1", Files: []chatcore.File{file}}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if r := submitEvent(t, b, EventRequest{Room: room.ID, UserID: owner.ID, Kind: chatcore.KindReact, Target: res[0].Msg.Seq, Body: "👍"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	_ = b.Stop(ctx)
	if _, err := s.pool.Exec(ctx, "INSERT INTO mentions (user_id, room_id, seq) VALUES ($1, $2, $3)", owner.ID, room.ID, res[0].Msg.Seq); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.DeleteRoom(ctx, room.ID, member.ID); !errors.Is(err, chatcore.ErrForbidden) {
		t.Fatalf("member deletes: %v", err)
	}
	members, keys, err := s.DeleteRoom(ctx, room.ID, owner.ID)
	slices.Sort(members)
	if err != nil || !slices.Equal(members, []int64{owner.ID, member.ID}) || !slices.Equal(keys, []string{"pic-key"}) {
		t.Fatalf("delete: members %v, file keys %v, %v", members, keys, err)
	}
	if _, err := s.RoomByID(ctx, room.ID); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("room after delete: %v", err)
	}
	// Nothing of the room is left behind in any table.
	for _, table := range []string{"messages", "message_reactions", "mentions", "files", "room_users"} {
		var left int
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE room_id = $1", room.ID).Scan(&left); err != nil || left != 0 {
			t.Fatalf("%s left: %d %v", table, left, err)
		}
	}
	if _, _, err := s.DeleteRoom(ctx, room.ID, owner.ID); !errors.Is(err, chatcore.ErrForbidden) {
		t.Fatalf("delete again: %v", err)
	}
	dm, _, err := s.OpenDM(ctx, owner.ID, member.ID, "dm")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.DeleteRoom(ctx, dm.ID, owner.ID); !errors.Is(err, chatcore.ErrForbidden) {
		t.Fatalf("delete a DM: %v", err)
	}
}
