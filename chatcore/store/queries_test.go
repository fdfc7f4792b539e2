package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/chatgate/chatgate/chatcore"
)

func TestUsers(t *testing.T) {
	reset(t)
	s := testStore
	ctx := ctxT(t)
	u, err := s.CreateUser(ctx, "Ann", "Ann@Example.ORG", "h1")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.Email != "ann@example.org" || u.CreatedAt.IsZero() {
		t.Fatalf("user: %+v", u)
	}
	if _, err := s.CreateUser(ctx, "Other", "ANN@example.org", "h2"); !errors.Is(err, chatcore.ErrConflict) {
		t.Fatalf("duplicate email: want ErrConflict, got %v", err)
	}
	got, err := s.UserByEmail(ctx, "aNN@example.org")
	if err != nil || got.ID != u.ID || got.PasswordHash != "h1" {
		t.Fatalf("by email: %+v %v", got, err)
	}
	if _, err := s.UserByEmail(ctx, "nobody@example.org"); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	if got, err := s.UserByID(ctx, u.ID); err != nil || got.Name != "Ann" {
		t.Fatalf("by id: %+v %v", got, err)
	}
	if _, err := s.UserByID(ctx, 999); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	b := mkUser(t, s, "bob")
	m, err := s.UsersByID(ctx, []int64{u.ID, b.ID, 12345})
	if err != nil || len(m) != 2 || m[b.ID].Name != "bob" {
		t.Fatalf("users by id: %v %v", m, err)
	}
	if m, err := s.UsersByID(ctx, nil); err != nil || len(m) != 0 {
		t.Fatalf("empty: %v %v", m, err)
	}
}

func TestRoomsJoinLeave(t *testing.T) {
	reset(t)
	s := testStore
	ctx := ctxT(t)
	ann, bob, cat := mkUser(t, s, "ann"), mkUser(t, s, "bob"), mkUser(t, s, "cat")
	r := mkRoom(t, s, ann.ID, "general", false)
	if r.MemberCount != 1 || !r.Joined || r.CreatedBy != ann.ID || r.LastSeq != 0 {
		t.Fatalf("created: %+v", r)
	}
	if _, err := s.CreateRoom(ctx, 9999, "orphan", false); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("unknown creator: %v", err)
	}
	count := func(want int64) {
		t.Helper()
		got, err := s.RoomByID(ctx, r.ID)
		if err != nil || got.MemberCount != want {
			t.Fatalf("member_count = %d (%v), want %d", got.MemberCount, err, want)
		}
	}
	for i, want := range []bool{true, false, false} {
		joined, err := s.Join(ctx, r.ID, bob.ID, chatcore.RoleMember)
		if err != nil || joined != want {
			t.Fatalf("join #%d: %v %v", i, joined, err)
		}
	}
	if ok, _ := s.Join(ctx, r.ID, cat.ID, ""); !ok {
		t.Fatal("cat join")
	}
	count(3)
	members, err := s.Members(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(members) != fmt.Sprintf("[{%d ann owner} {%d bob member} {%d cat member}]", ann.ID, bob.ID, cat.ID) {
		t.Fatalf("members: %v", members)
	}
	for i, want := range []bool{true, false} {
		left, err := s.Leave(ctx, r.ID, bob.ID)
		if err != nil || left != want {
			t.Fatalf("leave #%d: %v %v", i, left, err)
		}
	}
	count(2)
	if ok, err := s.IsMember(ctx, r.ID, bob.ID); ok || err != nil {
		t.Fatalf("bob still member: %v %v", ok, err)
	}
	if ok, err := s.IsMember(ctx, r.ID, cat.ID); !ok || err != nil {
		t.Fatalf("cat not member: %v %v", ok, err)
	}
	// The owner leaves: cat, the longest-standing member left, owns it.
	if left, err := s.Leave(ctx, r.ID, ann.ID); err != nil || !left {
		t.Fatalf("owner leaves: %v %v", left, err)
	}
	if role, err := s.Role(ctx, r.ID, cat.ID); err != nil || role != chatcore.RoleOwner {
		t.Fatalf("cat's role after the owner left: %q %v, want owner", role, err)
	}
	if _, err := s.Role(ctx, r.ID, ann.ID); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("ann's role after leaving: %v", err)
	}
	count(1)
	// A member leaving hands nothing over.
	if ok, _ := s.Join(ctx, r.ID, bob.ID, ""); !ok {
		t.Fatal("bob rejoins")
	}
	if _, err := s.Leave(ctx, r.ID, bob.ID); err != nil {
		t.Fatal(err)
	}
	if role, _ := s.Role(ctx, r.ID, cat.ID); role != chatcore.RoleOwner {
		t.Fatalf("cat's role after a member left: %q", role)
	}
	if _, err := s.Join(ctx, 9999, bob.ID, ""); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("join unknown room: %v", err)
	}
	if _, err := s.Leave(ctx, 9999, bob.ID); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("leave unknown room: %v", err)
	}
	if _, err := s.RoomByID(ctx, 9999); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("room by id: %v", err)
	}
	if _, err := s.LastSeq(ctx, 9999); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("last seq: %v", err)
	}
	if m, err := s.Members(ctx, 9999); err != nil || len(m) != 0 {
		t.Fatalf("members of unknown: %v %v", m, err)
	}

	// Read marker only moves forward, never past the last seq;
	// non-members get ErrNotFound.
	b := s.NewBatcher(nil)
	b.Start()
	defer b.Stop(ctx) //nolint:errcheck
	for i := 0; i < 6; i++ {
		if res := b.Send(ctx, SendRequest{Room: r.ID, UserID: cat.ID, Body: fmt.Sprint("m", i)}); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	marker := func(want int64) {
		t.Helper()
		rooms, err := s.ListRooms(ctx, cat.ID)
		if err != nil || len(rooms) != 1 || rooms[0].LastReadSeq != want || !rooms[0].Joined || rooms[0].Unread != 6-want {
			t.Fatalf("list: %+v %v, want marker %d", rooms, err, want)
		}
	}
	for _, seq := range []int64{5, 3} {
		if err := s.MarkRead(ctx, r.ID, cat.ID, seq); err != nil {
			t.Fatal(err)
		}
	}
	marker(5)
	if err := s.MarkRead(ctx, r.ID, cat.ID, 1000); err != nil {
		t.Fatal(err)
	}
	marker(6)
	if err := s.MarkRead(ctx, r.ID, bob.ID, 1); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("mark read non-member: %v", err)
	}
}

func TestJoinLeaveConcurrentCounts(t *testing.T) {
	reset(t)
	s := testStore
	owner := mkUser(t, s, "owner")
	r := mkRoom(t, s, owner.ID, "busy", false)
	users := make([]chatcore.User, 8)
	for i := range users {
		users[i] = mkUser(t, s, fmt.Sprintf("u%d", i))
	}
	// Every user joins twice and leaves once concurrently with the others;
	// member_count must equal the real row count at the end.
	errc := make(chan error, len(users))
	for _, u := range users {
		go func() {
			ctx := ctxT(t)
			for i := 0; i < 3; i++ {
				if _, err := s.Join(ctx, r.ID, u.ID, ""); err != nil {
					errc <- err
					return
				}
				if _, err := s.Join(ctx, r.ID, u.ID, ""); err != nil {
					errc <- err
					return
				}
				if _, err := s.Leave(ctx, r.ID, u.ID); err != nil {
					errc <- err
					return
				}
			}
			_, err := s.Join(ctx, r.ID, u.ID, "")
			errc <- err
		}()
	}
	for range users {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	var rows int64
	if err := s.pool.QueryRow(ctxT(t), "SELECT count(*) FROM room_users WHERE room_id = $1", r.ID).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	got, _ := s.RoomByID(ctxT(t), r.ID)
	if got.MemberCount != rows || rows != int64(len(users)+1) {
		t.Fatalf("member_count %d, rows %d", got.MemberCount, rows)
	}
}

func TestListRoomsVisibility(t *testing.T) {
	reset(t)
	s := testStore
	ctx := ctxT(t)
	ann, bob, eve := mkUser(t, s, "ann"), mkUser(t, s, "bob"), mkUser(t, s, "eve")
	pub := mkRoom(t, s, ann.ID, "public", false)
	priv := mkRoom(t, s, ann.ID, "secret", true)
	pub2 := mkRoom(t, s, bob.ID, "public2", false)
	if _, err := s.Join(ctx, priv.ID, bob.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, pub.ID, bob.ID, ""); err != nil {
		t.Fatal(err)
	}

	type view struct {
		id      int64
		joined  bool
		members int64
	}
	list := func(u chatcore.User) []view {
		t.Helper()
		rooms, err := s.ListRooms(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []view
		for _, r := range rooms {
			out = append(out, view{r.ID, r.Joined, r.MemberCount})
		}
		return out
	}
	want := map[string][]view{
		"ann": {{pub.ID, true, 2}, {priv.ID, true, 2}, {pub2.ID, false, 1}},
		"bob": {{pub.ID, true, 2}, {priv.ID, true, 2}, {pub2.ID, true, 1}},
		"eve": {{pub.ID, false, 2}, {pub2.ID, false, 1}},
	}
	for name, u := range map[string]chatcore.User{"ann": ann, "bob": bob, "eve": eve} {
		if got := list(u); fmt.Sprint(got) != fmt.Sprint(want[name]) {
			t.Errorf("%s sees %v, want %v", name, got, want[name])
		}
	}
}

func TestHistoryPagination(t *testing.T) {
	reset(t)
	s := testStore
	ctx := ctxT(t)
	u := mkUser(t, s, "ann")
	empty := mkRoom(t, s, u.ID, "empty", false)
	r := mkRoom(t, s, u.ID, "busy", false)

	if msgs, more, err := s.History(ctx, empty.ID, 0, 10); err != nil || len(msgs) != 0 || more {
		t.Fatalf("empty history: %v %v %v", msgs, more, err)
	}
	if msgs, more, err := s.After(ctx, empty.ID, 0, 10); err != nil || len(msgs) != 0 || more {
		t.Fatalf("empty after: %v %v %v", msgs, more, err)
	}
	if msgs, more, err := s.History(ctx, 9999, 0, 10); err != nil || len(msgs) != 0 || more {
		t.Fatalf("unknown room: %v %v %v", msgs, more, err)
	}

	b := s.NewBatcher(nil)
	b.Start()
	for i := 1; i <= 10; i++ {
		res := b.Send(ctx, SendRequest{Room: r.ID, UserID: u.ID, UserName: "ann", Body: fmt.Sprintf("m%d", i)})
		if res.Err != nil || res.Msg.Seq != int64(i) {
			t.Fatalf("send %d: %+v", i, res)
		}
	}
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	seqs := func(msgs []chatcore.Message) string {
		out := ""
		for _, m := range msgs {
			out += fmt.Sprintf("%d,", m.Seq)
		}
		return out
	}
	check := func(what string, msgs []chatcore.Message, more bool, err error, wantSeqs string, wantMore bool) {
		t.Helper()
		if err != nil || seqs(msgs) != wantSeqs || more != wantMore {
			t.Fatalf("%s: seqs %s more %v err %v; want %s %v", what, seqs(msgs), more, err, wantSeqs, wantMore)
		}
	}
	msgs, more, err := s.History(ctx, r.ID, 0, 1)
	check("limit 1", msgs, more, err, "10,", true)
	if m := msgs[0]; m.Body != "m10" || m.User != (chatcore.UserRef{ID: u.ID, Name: "ann"}) || m.CID != "" || m.TS.Location().String() != "UTC" || m.Room != r.ID {
		t.Fatalf("message: %+v", m)
	}
	msgs, more, err = s.History(ctx, r.ID, 0, 5)
	check("page 1 of 2", msgs, more, err, "10,9,8,7,6,", true)
	msgs, more, err = s.History(ctx, r.ID, msgs[len(msgs)-1].Seq, 5)
	check("page 2 of 2 (exact multiple)", msgs, more, err, "5,4,3,2,1,", false)
	msgs, more, err = s.History(ctx, r.ID, 1, 5)
	check("before first", msgs, more, err, "", false)
	msgs, more, err = s.History(ctx, r.ID, 1000, 3)
	check("before beyond last", msgs, more, err, "10,9,8,", true)
	msgs, more, err = s.History(ctx, r.ID, 0, 10)
	check("exactly all", msgs, more, err, "10,9,8,7,6,5,4,3,2,1,", false)
	msgs, more, err = s.History(ctx, r.ID, 0, 11)
	check("more than all", msgs, more, err, "10,9,8,7,6,5,4,3,2,1,", false)

	msgs, more, err = s.After(ctx, r.ID, 0, 5)
	check("after 0", msgs, more, err, "1,2,3,4,5,", true)
	msgs, more, err = s.After(ctx, r.ID, 5, 5)
	check("after 5", msgs, more, err, "6,7,8,9,10,", false)
	msgs, more, err = s.After(ctx, r.ID, 10, 5)
	check("after last", msgs, more, err, "", false)
	msgs, more, err = s.After(ctx, r.ID, 8, 1)
	check("after limit 1", msgs, more, err, "9,", true)

	rng, err := s.Range(ctx, r.ID, 3, 6)
	check("range", rng, false, err, "3,4,5,6,", false)
	rng, err = s.Range(ctx, r.ID, 9, 20)
	check("range past end", rng, false, err, "9,10,", false)
	rng, err = s.Range(ctx, r.ID, 6, 3)
	check("empty range", rng, false, err, "", false)

	got, err := s.RoomByID(ctx, r.ID)
	if err != nil || got.LastSeq != 10 || got.MessageCount != 10 {
		t.Fatalf("room counters: %+v %v", got, err)
	}
}
