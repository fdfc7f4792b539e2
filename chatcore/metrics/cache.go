package metrics

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CacheSet holds the caching collectors: the HTTP response cache
// (cachemw/chat_cache) and the entity caches' invalidation. Entity cache
// lookups count in Set.Cache and Redis calls in Set.RedisDuration.
type CacheSet struct {
	// HTTPRequests counts response-cache lookups by cache, route and result
	// (hit, miss, bypass).
	HTTPRequests *prometheus.CounterVec
	// Breaker is each cache's storage breaker state: 0 closed, 1 open, 2
	// half-open.
	Breaker *prometheus.GaugeVec
	// Invalidation is the time from an entity invalidation's publish on one
	// instance to its receipt on another.
	Invalidation prometheus.Histogram
	// InvalidationErrors counts invalidations that could not reach Redis, by
	// cache.
	InvalidationErrors *prometheus.CounterVec
}

var (
	cacheOnce sync.Once
	cacheSet  *CacheSet
)

// Caches returns the process-wide caching collectors.
func Caches() *CacheSet {
	cacheOnce.Do(func() {
		cacheSet = &CacheSet{
			HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "http_cache_requests_total",
				Help: "Response cache lookups by cache, route and result (hit, miss, bypass)."}, []string{"cache", "route", "result"}),
			Breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "cache_breaker_state",
				Help: "Cache storage circuit breaker state: 0 closed, 1 open, 2 half-open."}, []string{"cache"}),
			Invalidation: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "cache_invalidation_seconds",
				Help: "Time from an entity cache invalidation's publish to its receipt on another instance.", Buckets: LatencyBuckets}),
			InvalidationErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "cache_invalidation_errors_total",
				Help: "Cache invalidations that could not reach Redis, by cache."}, []string{"cache"}),
		}
	})
	return cacheSet
}

// Register adds the caching collectors to reg, tolerating ones already
// there (config reloads register again).
func (s *CacheSet) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{s.HTTPRequests, s.Breaker, s.Invalidation, s.InvalidationErrors} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// ObserveRedis times one Redis call under command in Set.RedisDuration.
func (s *Set) ObserveRedis(command string, d time.Duration) {
	s.RedisDuration.WithLabelValues(command).Observe(d.Seconds())
}
