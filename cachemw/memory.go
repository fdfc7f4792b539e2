package cachemw

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Memory is an in-process Storage for one instance: entries in an LRU bounded
// by total bytes (keys, bodies and bookkeeping), tag versions in a map of at
// most memMaxVersions tags. It never fails.
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

// memEntryOverhead is what an entry costs besides its key and body: the
// list element, the memEntry and the map slot, roughly.
const memEntryOverhead = 160

// memMaxVersions bounds the tag versions kept (a version per user, room,
// member list... ever looked up): past it the map starts over. Forgetting
// a version only costs misses: the next lookup makes a new one, which no
// stored entry carries.
const memMaxVersions = 1 << 16

// NewMemory returns a memory storage holding at most maxBytes of entries,
// counted as key + body + memEntryOverhead each (64 MiB when maxBytes <= 0).
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
	if len(m.versions)+len(tags) > memMaxVersions {
		clear(m.versions)
	}
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
	size := memSize(key, val)
	if size > m.maxBytes {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.entries[key]; ok {
		m.remove(el)
	}
	m.entries[key] = m.lru.PushFront(&memEntry{key: key, val: val, expires: time.Now().Add(ttl)})
	m.bytes += size
	for m.bytes > m.maxBytes {
		m.remove(m.lru.Back())
	}
	return nil
}

// Bump implements Storage.
func (m *Memory) Bump(_ context.Context, tags []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.versions)+len(tags) > memMaxVersions {
		clear(m.versions)
	}
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
	m.bytes -= memSize(e.key, e.val)
}

func memSize(key string, val []byte) int { return len(key) + len(val) + memEntryOverhead }

// Bytes is what the entries held count against maxBytes.
func (m *Memory) Bytes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}

// Versions is the number of tag versions held.
func (m *Memory) Versions() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.versions)
}

// Advance implements Sequencer.
func (m *Memory) Advance(_ context.Context, tags []string, seqs []int64, epoch string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.versions)+len(tags) > memMaxVersions {
		clear(m.versions)
	}
	for i, t := range tags {
		cur, have := m.versions[t]
		if v, set := advanceVersion(cur, have, seqs[i], epoch); set {
			m.versions[t] = v
		}
	}
	return nil
}

// Settle implements Sequencer.
func (m *Memory) Settle(_ context.Context, tag, old string, seq int64, epoch string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.versions[tag]; !ok || cur != old {
		return false, nil
	}
	m.versions[tag] = SeqVersion(seq, epoch)
	return true, nil
}
