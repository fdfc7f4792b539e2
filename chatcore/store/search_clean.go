package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// IndexCleaner merges the search index's pending list (GIN fastupdate) into
// the index every interval while messages arrive. Inserts only append to
// that list, which keeps them cheap; left alone, the insert that finds it
// over gin_pending_list_limit (4 MB) merges all of it inside a batch flush,
// and every search reads the whole list. Merging here, on a pool
// connection of its own moment, keeps both short. With many instances each
// merges after its own commits; a merge finding the list empty is cheap.
type IndexCleaner struct {
	s        *Store
	interval time.Duration
	dirty    atomic.Bool
	warned   atomic.Bool
	started  atomic.Bool

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// NewIndexCleaner builds a cleaner merging every interval (default 1s).
func (s *Store) NewIndexCleaner(interval time.Duration) *IndexCleaner {
	if interval <= 0 {
		interval = time.Second
	}
	return &IndexCleaner{s: s, interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
}

// Note records that messages were committed (the batcher's callback calls
// it); the next tick merges.
func (c *IndexCleaner) Note() { c.dirty.Store(true) }

// Start starts the ticker goroutine.
func (c *IndexCleaner) Start() {
	if c.started.CompareAndSwap(false, true) {
		go c.loop()
	}
}

// Stop ends it and waits (a cleaner never started stops at once).
func (c *IndexCleaner) Stop() {
	c.stopOnce.Do(func() { close(c.stop) })
	if c.started.Load() {
		<-c.done
	}
}

func (c *IndexCleaner) loop() {
	defer close(c.done)
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if c.dirty.Swap(false) {
				c.Clean(context.Background())
			}
		}
	}
}

// Clean merges the pending list now and returns the pages it merged.
func (c *IndexCleaner) Clean(ctx context.Context) int64 {
	var pages int64
	err := c.s.run(ctx, "search_clean_pending", func(ctx context.Context) (int, error) {
		return 0, c.s.pool.QueryRow(ctx, "SELECT gin_clean_pending_list('idx_messages_search'::regclass)").Scan(&pages)
	})
	if err != nil && c.warned.CompareAndSwap(false, true) {
		// Not fatal: autovacuum and the list's limit merge it anyway.
		c.s.log.Warn("search index: merging the pending list failed (logged once)", zap.Error(err))
	}
	return pages
}
