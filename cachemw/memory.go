package cachemw

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Memory is an in-process Storage for one instance: entries in an LRU bounded
// by total bytes, tag versions in a map. It never fails.
type Memory struct {
	maxBytes int

	mu       sync.Mutex
	bytes    int
	lru      *list.List // front = most recent; values are *memEntry
	entries  map[string]*list.Element
	versions map[string]string
}

type memEntry struct {
	key     string
	val     []byte
	expires time.Time
}

// NewMemory returns a memory storage holding at most maxBytes of entries
// (64 MiB when maxBytes <= 0).
func NewMemory(maxBytes int) *Memory {
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	return &Memory{maxBytes: maxBytes, lru: list.New(), entries: make(map[string]*list.Element),
		versions: make(map[string]string)}
}

// Lookup implements Storage.
func (m *Memory) Lookup(_ context.Context, key string, tags []string) ([]byte, []string, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := make([]string, len(tags))
	for i, t := range tags {
		v, ok := m.versions[t]
		if !ok {
			v = NewVersion()
			m.versions[t] = v
		}
		vs[i] = v
	}
	el, ok := m.entries[key]
	if !ok {
		return nil, vs, nil
	}
	e := el.Value.(*memEntry)
	if now.After(e.expires) {
		m.remove(el)
		return nil, vs, nil
	}
	m.lru.MoveToFront(el)
	return e.val, vs, nil
}

// Store implements Storage.
func (m *Memory) Store(_ context.Context, key string, val []byte, ttl time.Duration) error {
	if len(val) > m.maxBytes {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.entries[key]; ok {
		m.remove(el)
	}
	m.entries[key] = m.lru.PushFront(&memEntry{key: key, val: val, expires: time.Now().Add(ttl)})
	m.bytes += len(val)
	for m.bytes > m.maxBytes {
		m.remove(m.lru.Back())
	}
	return nil
}

// Bump implements Storage.
func (m *Memory) Bump(_ context.Context, tags []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range tags {
		m.versions[t] = NewVersion()
	}
	return nil
}

// Len is the number of entries held (expired ones included until touched).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

func (m *Memory) remove(el *list.Element) {
	e := el.Value.(*memEntry)
	m.lru.Remove(el)
	delete(m.entries, e.key)
	m.bytes -= len(e.val)
}
