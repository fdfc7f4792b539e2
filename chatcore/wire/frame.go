package wire

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Frame is one encoded server event, shared by every connection it is queued
// to: a broadcast is marshalled once, and compressed at most once, however
// many subscribers it reaches.
type Frame struct {
	// Seq is the message's seq for message events, else 0; the hub uses it
	// to order and de-duplicate.
	Seq int64
	// Data is the event's JSON object.
	Data []byte
	// Committed is when a message event's transaction committed (zero for
	// other events and replays), for the delivery latency metric.
	Committed time.Time

	once     sync.Once
	prepared *websocket.PreparedMessage
}

// NewFrame wraps encoded JSON.
func NewFrame(seq int64, data []byte) *Frame { return &Frame{Seq: seq, Data: data} }

// Prepared returns the frame as a gorilla PreparedMessage, built on first use.
// gorilla caches the compressed form per (server, compression level) inside
// it, so all compressing connections share one deflate pass.
func (f *Frame) Prepared() *websocket.PreparedMessage {
	f.once.Do(func() {
		pm, err := websocket.NewPreparedMessage(websocket.TextMessage, f.Data)
		if err != nil {
			panic("wire: prepare frame: " + err.Error()) // only fails on invalid message type
		}
		f.prepared = pm
	})
	return f.prepared
}
