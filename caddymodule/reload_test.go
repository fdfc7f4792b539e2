package caddymodule_test

import (
	"fmt"
	"testing"
	"time"
)

// TestReloadResume: a config reload closes WebSockets with 1001; clients
// reconnect and resume with since, and nothing sent meanwhile is lost or
// duplicated. Sends during the reload retry with the same cid.
func TestReloadResume(t *testing.T) {
	s := startServer(t, "ping_interval 25s")
	ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
	room := ann.createRoom(t, "reloading", false)
	bob.join(t, room)

	wb := bob.dial(t)
	wb.subscribe(t, room, nil)
	path := fmt.Sprintf("/api/rooms/%d/messages", room)
	for i := 1; i <= 5; i++ {
		ann.call(t, "POST", path, map[string]string{"body": "before", "cid": fmt.Sprint("b", i)})
	}
	var last int64
	for i := 0; i < 5; i++ {
		last = wb.next(t, "message").Seq
	}

	const during = 60
	posted := make(chan error, 1)
	go func() {
		for i := 0; i < during; i++ {
			cid := fmt.Sprint("d", i)
			for attempt := 0; ; attempt++ {
				r, err := tryCall(ann, "POST", path, map[string]string{"body": "during", "cid": cid})
				if err == nil && (r.status == 201 || r.status == 200) {
					break
				}
				if attempt > 50 {
					posted <- fmt.Errorf("send %s failed: %v %+v", cid, err, r)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(5 * time.Millisecond)
		}
		posted <- nil
	}()

	time.Sleep(50 * time.Millisecond)
	s.load(t, "ping_interval 26s") // a changed config really reloads
	if code := closeCode(wb.closed(t, 15*time.Second)); code != 1001 {
		t.Fatalf("close code %d, want 1001", code)
	}

	wb = bob.dial(t)
	defer wb.close()
	wb.subscribe(t, room, &last)
	if err := <-posted; err != nil {
		t.Fatal(err)
	}
	for want := last + 1; want <= last+during; want++ {
		if e := wb.next(t, "message"); e.Seq != want {
			t.Fatalf("after reload got seq %d, want %d", e.Seq, want)
		}
	}
	wb.send(t, map[string]any{"type": "ping"})
	if e := wb.next(t, "pong", "message"); e.Type != "pong" {
		t.Fatalf("extra message after resume: %+v", e)
	}
	r := ann.call(t, "GET", fmt.Sprintf("/api/rooms/%d", room), nil)
	var info struct {
		LastSeq int64 `json:"last_seq"`
	}
	r.decode(t, &info)
	if info.LastSeq != last+during {
		t.Fatalf("stored %d messages, want %d", info.LastSeq, last+during)
	}
}
