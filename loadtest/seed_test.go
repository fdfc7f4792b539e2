package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSeedRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seed.json")
	s, err := loadSeed(path)
	if err != nil || len(s.Users) != 0 || s.Version != seedVersion {
		t.Fatalf("missing file must be an empty seed: %+v %v", s, err)
	}
	s.Prefix, s.BaseURL = "ab", "http://x"
	s.Users = []SeedUser{{ID: 1, Email: "a@x", Password: "p", Token: "t", Rooms: []int64{7}}}
	s.Rooms = []SeedRoom{{ID: 7, Name: "r"}}
	if err := saveSeed(path, s); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seed holds secrets and must be private: %v %v", st.Mode(), err)
	}
	back, err := loadSeed(path)
	if err != nil || back.Users[0].Token != "t" || back.Rooms[0].ID != 7 || !back.Users[0].memberOf(7) || back.Users[0].memberOf(8) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if err := os.WriteFile(path, []byte(`{"version":99}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSeed(path); err == nil {
		t.Fatal("a seed of another version must be refused")
	}
	if err := os.WriteFile(path, []byte(`{`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSeed(path); err == nil {
		t.Fatal("a corrupt seed must be refused")
	}
}

func TestRealMainBadFlags(t *testing.T) {
	if code := realMain([]string{"-users", "0"}); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if code := realMain([]string{"-h"}); code != 0 {
		t.Fatalf("-h exit %d, want 0", code)
	}
}

func TestWritePayload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	users := []SeedUser{{ID: 11, Token: "a.b.c"}, {ID: 12, Token: "d.e.f"}, {ID: 13, Token: "g.h.i"}}
	rooms := []SeedRoom{{ID: 7}, {ID: 8}}
	if err := writePayload(path, users, rooms); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// User i is in room i mod rooms, as setup joined them.
	if want := "0,a.b.c,11,7\n1,d.e.f,12,8\n2,g.h.i,13,7\n"; string(b) != want {
		t.Fatalf("payload:\n%s\nwant:\n%s", b, want)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("payload holds tokens and must be private: %v %v", st.Mode(), err)
	}
}
