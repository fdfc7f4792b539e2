package store

import "time"

// Observer receives timings for metrics. Implementations must be cheap and
// safe for concurrent use: ObserveQuery runs on every query and ObserveBatch
// on the flusher goroutines.
type Observer interface {
	// ObserveQuery reports one named query (e.g. "room_by_id",
	// "history_before", "batch_flush") with its duration and wrapped error.
	ObserveQuery(name string, d time.Duration, err error)
	// ObserveBatch reports one committed flush: the number of requests it
	// answered (new and duplicate) and how long the commit round trip took.
	ObserveBatch(size int, commit time.Duration)
}

type nopObserver struct{}

func (nopObserver) ObserveQuery(string, time.Duration, error) {}
func (nopObserver) ObserveBatch(int, time.Duration)           {}

// PoolStats is a snapshot of the connection pool for gauges and counters.
type PoolStats struct {
	Acquired int32 // connections checked out right now
	Idle     int32 // connections idle in the pool
	Total    int32 // open connections (acquired + idle + being built)
	Max      int32 // MaxConns

	Acquires     int64         // total successful acquires (counter)
	Waits        int64         // acquires that had to wait for a connection (EmptyAcquireCount, counter)
	WaitDuration time.Duration // total time spent in those waits (counter)
}
