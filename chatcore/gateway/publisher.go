package gateway

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/bus"
)

// publisher hands committed messages to the bus off the batcher's flusher:
// a slow or dead Redis must never slow down commits and acks. One goroutine
// publishes in commit order, coalescing whatever queued up into one call.
// When the queue is full the messages are dropped from the bus only: they
// are stored and acked, and other instances backfill them from Postgres
// (on the next message's gap, or when their Redis connection comes back).
// Cache invalidation is not its business (invalidate.go): a drop here
// never drops one.
type publisher struct {
	bus  bus.Bus
	log  *zap.Logger
	drop func(n int)

	mu      sync.Mutex
	queue   []chatcore.Message
	at      time.Time // commit time of the oldest queued message
	wake    chan struct{}
	limit   int
	stopped bool
	done    chan struct{}
}

func newPublisher(b bus.Bus, log *zap.Logger, limit int, drop func(int)) *publisher {
	p := &publisher{bus: b, log: log, drop: drop, limit: limit, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *publisher) add(msgs []chatcore.Message, committed time.Time) {
	p.mu.Lock()
	if p.stopped || len(p.queue)+len(msgs) > p.limit {
		p.mu.Unlock()
		p.drop(len(msgs))
		return
	}
	if len(p.queue) == 0 {
		p.at = committed
	}
	p.queue = append(p.queue, msgs...)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *publisher) run() {
	defer close(p.done)
	for range p.wake {
		for {
			p.mu.Lock()
			msgs, at := p.queue, p.at
			p.queue = nil
			stopped := p.stopped
			p.mu.Unlock()
			if len(msgs) == 0 {
				if stopped {
					return
				}
				break
			}
			if err := p.bus.PublishMessages(context.Background(), msgs, at); err != nil {
				p.log.Warn("gateway: publish messages", zap.Int("count", len(msgs)), zap.Error(err))
			}
		}
	}
}

// stop publishes what is queued, then ends.
func (p *publisher) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	close(p.wake)
	<-p.done
}
