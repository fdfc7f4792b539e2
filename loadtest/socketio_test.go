package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatgate/chatgate/chatclient"
)

// fakeSIO is the Engine.IO / Socket.IO exchange of loadtest/peers/socketio
// for one client, written by hand: open, connect, a ping, join, send.
func fakeSIO(t *testing.T) *httptest.Server {
	up := websocket.Upgrader{}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/socket.io/" || r.URL.Query().Get("EIO") != "4" || r.URL.Query().Get("transport") != "websocket" {
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		write := func(s string) { _ = ws.WriteMessage(websocket.TextMessage, []byte(s)) }
		write(`0{"sid":"e1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)
		seq := int64(4)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			s := string(data)
			switch {
			case strings.HasPrefix(s, "40"):
				var auth struct{ User int64 }
				if json.Unmarshal(data[2:], &auth) != nil || auth.User != 7 {
					write(`44{"message":"bad auth"}`)
					return
				}
				write(`40{"sid":"s1"}`)
				write("2") // ping: the client must answer 3
			case s == "3":
			case s == "41":
				return
			case strings.HasPrefix(s, "42"):
				i := 2
				for data[i] >= '0' && data[i] <= '9' {
					i++
				}
				id := s[2:i]
				var args []json.RawMessage
				if err := json.Unmarshal(data[i:], &args); err != nil || len(args) != 2 {
					t.Errorf("bad emit %q", s)
					return
				}
				switch string(args[0]) {
				case `"join"`:
					write(`43` + id + `[{"room":` + string(args[1]) + `,"last_seq":` + strconv.FormatInt(seq, 10) + `}]`)
				case `"send"`:
					var m sioSend
					_ = json.Unmarshal(args[1], &m)
					seq++
					write(`43` + id + `[{"room":` + strconv.FormatInt(m.Room, 10) + `,"seq":` + strconv.FormatInt(seq, 10) + `,"cid":"` + m.CID + `"}]`)
					b, _ := json.Marshal(map[string]any{"room": m.Room, "seq": seq, "user": map[string]any{"id": 7, "name": "u"}, "body": m.Body, "cid": m.CID, "ts": "now"})
					write(`42["message",` + string(b) + `]`)
				}
			}
		}
	}))
}

func TestSocketIOConn(t *testing.T) {
	srv := fakeSIO(t)
	defer srv.Close()
	events := make(chan chatclient.Event, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := dialSIO(ctx, websocket.DefaultDialer, srv.URL, 7, "u",
		func(e *chatclient.Event) { events <- *e },
		func(b []byte, err error) { t.Errorf("bad frame %q: %v", b, err) },
		time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if conn.readTimeout != 45*time.Second {
		t.Fatalf("read timeout %v: want pingInterval + pingTimeout", conn.readTimeout)
	}
	if err := conn.SubscribeAsync(3, nil); err != nil {
		t.Fatal(err)
	}
	if err := conn.SendAsync(3, `say "hi"`, "c-1"); err != nil {
		t.Fatal(err)
	}
	want := []chatclient.Event{
		{Type: "subscribed", Room: 3, LastSeq: 4},
		{Type: "ack", Room: 3, Seq: 5, CID: "c-1"},
		{Type: "message", Room: 3, Seq: 5, Body: `say "hi"`, CID: "c-1"},
	}
	for _, w := range want {
		select {
		case e := <-events:
			if e.At.IsZero() {
				t.Fatalf("%+v: no arrival time", e)
			}
			e.At = time.Time{}
			if !reflect.DeepEqual(e, w) {
				t.Fatalf("got %+v, want %+v", e, w)
			}
		case <-ctx.Done():
			t.Fatalf("waiting for %+v", w)
		}
	}
	_ = conn.CloseWith(chatclient.CloseNormal, "done", time.Second)
	<-conn.Done()
	if conn.Err() != chatclient.ErrClosed {
		t.Fatalf("err after close: %v", conn.Err())
	}
}

func TestSocketIOPackets(t *testing.T) {
	c := &sioConn{}
	var got []chatclient.Event
	c.onEvent = func(e *chatclient.Event) { got = append(got, *e) }
	now := time.Now()
	for _, bad := range []string{"", "4", `42["typing",{}]`, `43[{"seq":1}]`, `43x`} {
		if err := c.packet([]byte(bad), now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := c.packet([]byte("41"), now); err != errSIOClosed {
		t.Fatalf("disconnect: %v", err)
	}
	if err := c.packet([]byte(`4312[{"error":"forbidden","room":2,"cid":"c"}]`), now); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Type != "error" || got[0].CID != "c" || got[0].Code != "forbidden" {
		t.Fatalf("%+v", got)
	}
	if !bytes.HasSuffix([]byte(sioURL("http://127.0.0.1:1")), []byte("ws://127.0.0.1:1/socket.io/?EIO=4&transport=websocket")) {
		t.Fatal(sioURL("http://127.0.0.1:1"))
	}
}
