package chatclient_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatclient"
)

// Moved from loadtest/wire_test.go with the code they test.

func TestDecodeEventsSingleAndBatch(t *testing.T) {
	evs, err := chatclient.DecodeFrame([]byte(`{"type":"ack","cid":"a","room":3,"seq":7}`))
	if err != nil || len(evs) != 1 || evs[0].Type != "ack" || evs[0].Seq != 7 || evs[0].CID != "a" {
		t.Fatalf("single: %+v %v", evs, err)
	}
	batch := `  [{"type":"message","room":1,"seq":1,"user":{"id":2,"name":"x"},"body":"b","cid":"c","ts":"2026-01-01T00:00:00.1Z"},
	{"type":"typing","room":1,"user":5},{"type":"subscribed","room":1,"last_seq":9}]`
	evs, err = chatclient.DecodeFrame([]byte(batch))
	if err != nil || len(evs) != 3 {
		t.Fatalf("batch: %+v %v", evs, err)
	}
	if evs[0].Type != "message" || evs[0].Body != "b" || evs[2].LastSeq != 9 || evs[1].Type != "typing" {
		t.Fatalf("batch order or fields wrong: %+v", evs)
	}
	for _, bad := range []string{"", "   ", "{", "[1,2]", "nope"} {
		if _, err := chatclient.DecodeFrame([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestEncodeFrames(t *testing.T) {
	if got := string(chatclient.SubscribeFrame(4, nil)); got != `{"type":"subscribe","room":4}` {
		t.Fatalf("subscribe without since: %s", got)
	}
	if got := string(chatclient.SubscribeFrame(4, chatclient.Since(0))); got != `{"type":"subscribe","room":4,"since":0}` {
		t.Fatalf("since 0 must be sent: %s", got)
	}
	got := string(chatclient.SendFrame(4, `a"b`, "c1"))
	if !strings.Contains(got, `"body":"a\"b"`) || !strings.Contains(got, `"type":"send"`) {
		t.Fatalf("send: %s", got)
	}
}

func TestWSURL(t *testing.T) {
	if got := chatclient.New("http://127.0.0.1:8080").WSURL(); got != "ws://127.0.0.1:8080/ws" {
		t.Fatal(got)
	}
	if got := chatclient.New("https://chat.example:443/").WSURL(); got != "wss://chat.example:443/ws" {
		t.Fatal(got)
	}
}

func TestBackoffBounds(t *testing.T) {
	for attempt := 0; attempt < 12; attempt++ {
		for i := 0; i < 50; i++ {
			d := chatclient.Backoff(attempt, 100*time.Millisecond, 5*time.Second)
			if d < 50*time.Millisecond || d >= 7500*time.Millisecond {
				t.Fatalf("attempt %d: %v out of bounds", attempt, d)
			}
		}
	}
}
