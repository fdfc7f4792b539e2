// Package metrics holds Chatgate's Prometheus collectors. They are created
// once per process and registered on whatever registry the host gives (Caddy
// makes a new one on every config load), so counters survive reloads.
package metrics

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/store"
)

const ns = "chatgate"

// LatencyBuckets spans 100µs to 10s: the delivery target is a few ms, the
// alert thresholds 100 ms, and timeouts seconds.
var LatencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Set is every Chatgate collector.
type Set struct {
	Connections     prometheus.Gauge
	Connects        prometheus.Counter
	Disconnects     *prometheus.CounterVec
	FramesIn        prometheus.Counter
	FramesOut       prometheus.Counter
	EventsOut       prometheus.Counter
	Received        prometheus.Counter
	Stored          prometheus.Counter
	Delivered       prometheus.Counter
	DeliveryLatency prometheus.Histogram
	FanoutLag       prometheus.Histogram
	Overflows       prometheus.Counter
	BatchSize       prometheus.Histogram
	BatchCommit     prometheus.Histogram
	QueryDuration   *prometheus.HistogramVec
	QueryErrors     *prometheus.CounterVec
	RedisDuration   *prometheus.HistogramVec
	RedisErrors     *prometheus.CounterVec
	DependencyUp    *prometheus.GaugeVec
	BusPublished    *prometheus.CounterVec
	BusReceived     *prometheus.CounterVec
	BusLag          prometheus.Histogram
	Cache           *prometheus.CounterVec
	RateLimited     *prometheus.CounterVec
	Replayed        *prometheus.CounterVec
	GapFilled       prometheus.Counter
	Errors          *prometheus.CounterVec

	pool poolCollector
}

var (
	once sync.Once
	set  *Set
)

// Default returns the process-wide collectors, creating them on first use.
func Default() *Set {
	once.Do(func() { set = newSet() })
	return set
}

func newSet() *Set {
	s := buildSet()
	// Error counters start at zero for the calls every instance makes, so
	// the series exist (and rate() works) before the first failure.
	for _, q := range []string{"ping", "batch_flush"} {
		s.QueryErrors.WithLabelValues(q)
	}
	s.RedisErrors.WithLabelValues("publish")
	return s
}

func buildSet() *Set {
	h := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: LatencyBuckets})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help})
	}
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels)
	}
	hv := func(name, help string, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: LatencyBuckets}, labels)
	}
	return &Set{
		Connections:     prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "ws_connections", Help: "Open WebSocket connections."}),
		Connects:        c("ws_connects_total", "WebSocket connections accepted."),
		Disconnects:     cv("ws_disconnects_total", "WebSocket connections closed, by close code (0: dropped without one).", "code"),
		FramesIn:        c("ws_frames_in_total", "WebSocket frames received from clients."),
		FramesOut:       c("ws_frames_out_total", "WebSocket frames written to clients (a frame may carry many events)."),
		EventsOut:       c("ws_events_out_total", "Events written to clients."),
		Received:        c("messages_received_total", "Messages accepted from clients for storing."),
		Stored:          c("messages_stored_total", "Messages committed to Postgres."),
		Delivered:       c("messages_delivered_total", "Message deliveries written to client sockets."),
		DeliveryLatency: h("delivery_latency_seconds", "Time from a message's commit to its write on a subscriber's socket."),
		FanoutLag:       h("fanout_lag_seconds", "Time from a message's commit to its fan-out by the local hub."),
		Overflows:       c("queue_overflows_total", "Connections closed because their outbound queue overflowed (4408)."),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "batch_size",
			Help: "Messages per batcher flush.", Buckets: prometheus.ExponentialBuckets(1, 2, 11)}),
		BatchCommit:   h("batch_commit_seconds", "Time to commit one batcher flush."),
		QueryDuration: hv("db_query_duration_seconds", "Postgres query duration by query name.", "query"),
		QueryErrors:   cv("db_query_errors_total", "Postgres query errors by query name.", "query"),
		RedisDuration: hv("redis_duration_seconds", "Redis call duration by command.", "command"),
		RedisErrors:   cv("redis_errors_total", "Redis calls that failed, by command.", "command"),
		DependencyUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "dependency_up",
			Help: "1 when the dependency answered the last readiness check, else 0.", ConstLabels: nil}, []string{"dependency"}),
		BusPublished: cv("bus_published_total", "Events published on the bus, by kind.", "kind"),
		BusReceived:  cv("bus_received_total", "Events received from the bus, by kind.", "kind"),
		BusLag:       h("bus_lag_seconds", "Time from a message's commit to its receipt from the bus."),
		Cache:        cv("cache_requests_total", "Cache lookups by cache and result (hit, miss, bypass).", "cache", "result"),
		RateLimited:  cv("rate_limited_total", "Requests and frames refused by a rate limit, by scope.", "scope"),
		Replayed:     cv("replayed_messages_total", "Messages replayed to resuming subscribers, by source (ring, store).", "source"),
		GapFilled:    c("gap_filled_messages_total", "Messages fetched from the store to close a seq gap."),
		Errors:       cv("errors_total", "Errors answered to clients, by code.", "code"),
	}
}

func (s *Set) collectors() []prometheus.Collector {
	return []prometheus.Collector{s.Connections, s.Connects, s.Disconnects, s.FramesIn, s.FramesOut, s.EventsOut,
		s.Received, s.Stored, s.Delivered, s.DeliveryLatency, s.FanoutLag, s.Overflows, s.BatchSize, s.BatchCommit,
		s.QueryDuration, s.QueryErrors, s.RedisDuration, s.RedisErrors, s.DependencyUp, s.BusPublished, s.BusReceived, s.BusLag, s.Cache,
		s.RateLimited, s.Replayed, s.GapFilled, s.Errors, &s.pool}
}

// Register adds every collector to reg. Already registered ones are fine:
// a config reload registers them again on a fresh or the same registry.
func (s *Set) Register(reg prometheus.Registerer) error {
	for _, c := range s.collectors() {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// SetPoolSource points the pool gauges at a store (nil to detach).
func (s *Set) SetPoolSource(f func() store.PoolStats) { s.pool.src.Store(&f) }

// ObserveQuery implements store.Observer.
func (s *Set) ObserveQuery(name string, d time.Duration, err error) {
	s.QueryDuration.WithLabelValues(name).Observe(d.Seconds())
	// "No such row" and "already exists" are answers, not failures.
	if err != nil && !errors.Is(err, chatcore.ErrNotFound) && !errors.Is(err, chatcore.ErrConflict) {
		s.QueryErrors.WithLabelValues(name).Inc()
	}
}

// ObserveBatch implements store.Observer.
func (s *Set) ObserveBatch(size int, commit time.Duration) {
	s.BatchSize.Observe(float64(size))
	s.BatchCommit.Observe(commit.Seconds())
	s.Stored.Add(float64(size))
}

// Disconnected counts a closed connection by its close code.
func (s *Set) Disconnected(code int) {
	s.Connections.Dec()
	s.Disconnects.WithLabelValues(strconv.Itoa(code)).Inc()
}

// poolCollector reads pgxpool stats at scrape time.
type poolCollector struct {
	src atomic.Pointer[func() store.PoolStats]
}

var (
	poolAcquired = prometheus.NewDesc(ns+"_db_pool_acquired_conns", "Postgres connections checked out.", nil, nil)
	poolIdle     = prometheus.NewDesc(ns+"_db_pool_idle_conns", "Postgres connections idle in the pool.", nil, nil)
	poolTotal    = prometheus.NewDesc(ns+"_db_pool_total_conns", "Postgres connections open.", nil, nil)
	poolWaits    = prometheus.NewDesc(ns+"_db_pool_waits_total", "Acquires that had to wait for a connection.", nil, nil)
	poolWaitSecs = prometheus.NewDesc(ns+"_db_pool_wait_seconds_total", "Time spent waiting for a connection.", nil, nil)
)

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolTotal, poolWaits, poolWaitSecs} {
		ch <- d
	}
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	f := p.src.Load()
	if f == nil || *f == nil {
		return
	}
	st := (*f)()
	ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(st.Acquired))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(st.Idle))
	ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(st.Total))
	ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(st.Waits))
	ch <- prometheus.MustNewConstMetric(poolWaitSecs, prometheus.CounterValue, st.WaitDuration.Seconds())
}
