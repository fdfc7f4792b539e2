package gateway

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The core's part of files (issue 15): the default storage and the
// sweep that deletes uploads never attached to a message. The routes are
// in rest_files.go, the check of a send's files in send_files.go.

// defaultFilesDir is where uploads are kept when Config.FilesDir is empty
// (the Caddyfile sets it under CHATGATE_DATA_DIR).
const defaultFilesDir = ".data/files"

// sweeper deletes unattached uploads older than ttl, every interval.
type sweeper struct {
	c        *Core
	ttl      time.Duration
	interval time.Duration
	stop     chan struct{}
	done     sync.WaitGroup
}

func newSweeper(c *Core, ttl time.Duration) *sweeper {
	interval := min(ttl/2, 10*time.Minute)
	return &sweeper{c: c, ttl: ttl, interval: max(interval, time.Second), stop: make(chan struct{})}
}

// Start runs the sweep until Stop.
func (s *sweeper) Start() {
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sweep(context.Background())
			}
		}
	}()
}

// Stop ends the sweep and waits for a round in progress.
func (s *sweeper) Stop() {
	close(s.stop)
	s.done.Wait()
}

// sweep deletes expired unattached uploads, rows first, then their bytes:
// a crash between the two leaves an orphan file, never a row without one.
// Every instance sweeps; the DELETE ... RETURNING hands each row to one.
func (s *sweeper) sweep(ctx context.Context) int {
	const batch = 500
	n := 0
	for {
		keys, err := s.c.Store.SweepFiles(ctx, time.Now().Add(-s.ttl), batch)
		if err != nil {
			s.c.log.Warn("gateway: file sweep", zap.Error(err))
			return n
		}
		s.c.dropFileBytes(ctx, "file sweep", keys)
		n += len(keys)
		if len(keys) < batch {
			return n
		}
	}
}

// dropFileBytes deletes the stored bytes of files whose rows are already
// gone (the sweep, a room's deletion): rows first, then bytes, so a failure
// here leaves an orphan file that nobody can fetch, logged, never an error
// for the caller.
func (c *Core) dropFileBytes(ctx context.Context, why string, keys []string) {
	for _, k := range keys {
		if err := c.Files.Delete(ctx, k); err != nil {
			c.log.Warn("gateway: "+why+": delete file", zap.String("key", k), zap.Error(err))
		}
	}
}
