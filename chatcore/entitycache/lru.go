package entitycache

import (
	"container/list"
	"sync"
	"time"
)

// lru is the in-process level: a bounded LRU of decoded values with expiry.
type lru[V any] struct {
	max int

	mu sync.Mutex
	ll *list.List
	m  map[string]*list.Element
}

type lruEntry[V any] struct {
	id  string
	val V
	exp time.Time
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

func (l *lru[V]) get(id string, now time.Time) (V, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.m[id]
	if !ok {
		var zero V
		return zero, false
	}
	e := el.Value.(*lruEntry[V])
	if !now.Before(e.exp) {
		l.ll.Remove(el)
		delete(l.m, id)
		var zero V
		return zero, false
	}
	l.ll.MoveToFront(el)
	return e.val, true
}

func (l *lru[V]) put(id string, v V, exp time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.m[id]; ok {
		e := el.Value.(*lruEntry[V])
		e.val, e.exp = v, exp
		l.ll.MoveToFront(el)
		return
	}
	l.m[id] = l.ll.PushFront(&lruEntry[V]{id: id, val: v, exp: exp})
	for l.ll.Len() > l.max {
		last := l.ll.Back()
		l.ll.Remove(last)
		delete(l.m, last.Value.(*lruEntry[V]).id)
	}
}

func (l *lru[V]) remove(ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		if el, ok := l.m[id]; ok {
			l.ll.Remove(el)
			delete(l.m, id)
		}
	}
}

func (l *lru[V]) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ll.Init()
	l.m = make(map[string]*list.Element)
}

func (l *lru[V]) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ll.Len()
}
