package store

import (
	"errors"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatcore"
)

func mkFile(t *testing.T, s *Store, room, user int64, name string) chatcore.File {
	t.Helper()
	f := FileRecord{File: chatcore.File{Name: name, Type: "image/png", Size: 10, Width: 4, Height: 3}, Room: room, User: user, Key: name + "-key"}
	if err := s.CreateFile(ctxT(t), &f); err != nil {
		t.Fatal(err)
	}
	return f.File
}

// TestAttachFilesInFlush: a flush attaches files in its own transaction.
// One flush holds a message with file 1, a message without files and a
// second message naming file 1: the last alone fails (ErrFileTaken), the
// others commit with gap-free seqs, and history carries the files.
func TestAttachFilesInFlush(t *testing.T) {
	reset(t)
	s := testStore
	ann, bob := mkUser(t, s, "ann"), mkUser(t, s, "bob")
	room := mkRoom(t, s, ann.ID, "r", false).ID
	f1, f2 := mkFile(t, s, room, ann.ID, "one"), mkFile(t, s, room, ann.ID, "two")

	b := s.NewBatcher(nil)
	results := make(chan SendResult, 3)
	done := func(i int) func(SendResult) {
		return func(r SendResult) { r.Msg.Body = string(rune('a' + i)); results <- r }
	}
	// Queued before the flusher starts: one flush.
	reqs := []SendRequest{
		{Room: room, UserID: ann.ID, Body: "a", Files: []chatcore.File{f1, f2}},
		{Room: room, UserID: bob.ID, Body: "b"},
		{Room: room, UserID: ann.ID, Body: "c", Files: []chatcore.File{f1}},
	}
	for i, r := range reqs {
		if err := b.Submit(r, done(i)); err != nil {
			t.Fatal(err)
		}
	}
	b.Start()
	defer b.Stop(ctxT(t))
	got := map[string]SendResult{}
	for range reqs {
		r := <-results
		got[r.Msg.Body] = r
	}
	if got["a"].Err != nil || got["b"].Err != nil || got["a"].Msg.Seq != 1 || got["b"].Msg.Seq != 2 {
		t.Fatalf("a %+v, b %+v", got["a"], got["b"])
	}
	if !errors.Is(got["c"].Err, ErrFileTaken) || !errors.Is(got["c"].Err, chatcore.ErrConflict) {
		t.Fatalf("c: %v, want ErrFileTaken", got["c"].Err)
	}
	if len(got["a"].Msg.Files) != 2 {
		t.Fatalf("ack without files: %+v", got["a"].Msg)
	}
	msgs, _, err := s.History(ctxT(t), room, 0, 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("history %+v %v", msgs, err)
	}
	if m := msgs[1]; m.Seq != 1 || len(m.Files) != 2 || m.Files[0] != f1 || m.Files[1] != f2 {
		t.Fatalf("history seq 1: %+v", m)
	}
	if m := msgs[0]; len(m.Files) != 0 {
		t.Fatalf("history seq 2: %+v", m)
	}
	if rec, err := s.FileByID(ctxT(t), f1.ID); err != nil || rec.Seq != 1 {
		t.Fatalf("file 1: %+v %v", rec, err)
	}
}

// TestSweepFiles: the sweep takes unattached uploads past the cutoff and
// returns their keys; attached ones stay.
func TestSweepFiles(t *testing.T) {
	reset(t)
	s := testStore
	ann := mkUser(t, s, "ann")
	room := mkRoom(t, s, ann.ID, "r", false).ID
	kept, lost := mkFile(t, s, room, ann.ID, "kept"), mkFile(t, s, room, ann.ID, "lost")
	b := s.NewBatcher(nil)
	b.Start()
	defer b.Stop(ctxT(t))
	if r := b.Send(ctxT(t), SendRequest{Room: room, UserID: ann.ID, Body: "x", Files: []chatcore.File{kept}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if keys, err := s.SweepFiles(ctxT(t), time.Now().Add(-time.Hour), 10); err != nil || len(keys) != 0 {
		t.Fatalf("young uploads swept: %v %v", keys, err)
	}
	keys, err := s.SweepFiles(ctxT(t), time.Now().Add(time.Hour), 10)
	if err != nil || len(keys) != 1 || keys[0] != "lost-key" {
		t.Fatalf("swept %v %v", keys, err)
	}
	if _, err := s.FileByID(ctxT(t), lost.ID); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("swept row still there: %v", err)
	}
	if _, err := s.FileByID(ctxT(t), kept.ID); err != nil {
		t.Fatalf("attached file swept: %v", err)
	}
}

// TestDeletedMessageFiles: a delete event takes the message's files with
// it: history shows none, the row is marked (negative seq, so the fetch
// route refuses it and it cannot be attached again), and the next sweep
// removes it whatever its age.
func TestDeletedMessageFiles(t *testing.T) {
	reset(t)
	s := testStore
	ann := mkUser(t, s, "ann")
	room := mkRoom(t, s, ann.ID, "r", false).ID
	f := mkFile(t, s, room, ann.ID, "doomed")
	b := s.NewBatcher(nil)
	b.Start()
	defer b.Stop(ctxT(t))
	r := b.Send(ctxT(t), SendRequest{Room: room, UserID: ann.ID, Body: "x", Files: []chatcore.File{f}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	ch := make(chan EventResult, 1)
	if err := b.SubmitEvent(EventRequest{Room: room, UserID: ann.ID, Kind: chatcore.KindDelete, Target: r.Msg.Seq}, func(e EventResult) { ch <- e }); err != nil {
		t.Fatal(err)
	}
	if e := <-ch; e.Err != nil {
		t.Fatal(e.Err)
	}
	msgs := []chatcore.Message{{Room: room, Seq: r.Msg.Seq}}
	if err := s.FillFiles(ctxT(t), room, msgs); err != nil || len(msgs[0].Files) != 0 {
		t.Fatalf("deleted message still carries files: %+v %v", msgs[0].Files, err)
	}
	rec, err := s.FileByID(ctxT(t), f.ID)
	if err != nil || rec.Seq >= 0 {
		t.Fatalf("file of a deleted message: seq %d (%v), want < 0", rec.Seq, err)
	}
	keys, err := s.SweepFiles(ctxT(t), time.Now().Add(-time.Hour), 10)
	if err != nil || len(keys) != 1 || keys[0] != "doomed-key" {
		t.Fatalf("swept %v %v, want the deleted message's file at once", keys, err)
	}
}
