package chatclient

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Log records a connection's events (DialOptions.Log) so that they can be
// looked up later: for bots that wait for one particular event, and for
// tests. Its methods are safe for concurrent use.
type Log struct {
	mu      sync.Mutex
	events  []Event
	changed chan struct{}
	ended   bool
	err     error
}

// NewLog returns an empty log.
func NewLog() *Log { return &Log{changed: make(chan struct{})} }

func (l *Log) signal() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Add records an event (done by the connection; usable on its own).
func (l *Log) Add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.signal()
	l.mu.Unlock()
}

func (l *Log) end(err error) {
	l.mu.Lock()
	l.ended, l.err = true, err
	l.signal()
	l.mu.Unlock()
}

// Changed is closed at the next change (an event, the end).
func (l *Log) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Events is a copy of everything recorded, in order.
func (l *Log) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// Len is the number of events recorded.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// Err is the connection's error once it has ended, else nil.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// DeleteFunc forgets the events matching pred (so that a later Wait finds
// a newer one).
func (l *Log) DeleteFunc(pred func(Event) bool) {
	l.mu.Lock()
	l.events = slices.DeleteFunc(l.events, pred)
	l.mu.Unlock()
}

// Find returns the first recorded event matching pred.
func (l *Log) Find(pred func(Event) bool) (Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if pred(e) {
			return e, true
		}
	}
	return Event{}, false
}

// Wait returns the first event matching pred, recorded before or after the
// call. It fails when ctx ends, or when the connection has ended without
// one ("connection ended: " + its error).
func (l *Log) Wait(ctx context.Context, pred func(Event) bool) (Event, error) {
	for {
		l.mu.Lock()
		for _, e := range l.events {
			if pred(e) {
				l.mu.Unlock()
				return e, nil
			}
		}
		ended, err, ch := l.ended, l.err, l.changed
		l.mu.Unlock()
		if ended {
			return Event{}, fmt.Errorf("connection ended: %w", err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}
