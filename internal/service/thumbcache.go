package service

import (
	"strings"
	"sync"
	"time"
)

const (
	// thumbCacheTTL bounds how long a remembered thumbnail is trusted
	// without listing the store again. Thumbnails are immutable (their
	// key is the content's hash and the size), so this only bounds how
	// long a thumbnail deleted behind the cache's back answers 404.
	thumbCacheTTL = 10 * time.Minute
	// thumbCacheEntries bounds the thumbnails remembered.
	thumbCacheEntries = 10000
	// thumbCacheBytes bounds the thumbnail bytes held in memory, and
	// thumbCacheMaxItem the size of one held thumbnail.
	thumbCacheBytes   = 16 << 20
	thumbCacheMaxItem = 256 << 10
)

// thumbCache remembers which cached thumbnail answers a thumbnail set
// and size (its blob key and size, found by a listing of the store) and,
// within a memory budget, its bytes. The profile of issue 18 showed a
// cached thumbnail on S3 as a LIST (half the request's wall time) and a
// GET (the other half).
//
// It never decides whether anything may be served: Thumbnails.Get checks
// the record (clean, waited for like a download) on every request before
// it looks here, and Thumbnails.Open checks the record's state again.
type thumbCache struct {
	mu      sync.Mutex
	entries map[string]thumbEntry // by base (set, size and method)
	bytes   int64
	now     func() time.Time
}

// thumbEntry is one remembered thumbnail; data is nil when its bytes are
// not held.
type thumbEntry struct {
	key  string
	size int64
	data []byte
	at   time.Time
}

func newThumbCache(now func() time.Time) *thumbCache {
	return &thumbCache{entries: map[string]thumbEntry{}, now: now}
}

// get returns the entry of base unless it is missing or too old.
func (c *thumbCache) get(base string) (thumbEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[base]
	if ok && c.now().Sub(e.at) > thumbCacheTTL {
		c.dropLocked(base)
		return thumbEntry{}, false
	}
	return e, ok
}

// put remembers the thumbnail key of base with its size and, when data
// is not nil and fits the budget, its bytes (data must not be changed
// afterwards).
func (c *thumbCache) put(base, key string, size int64, data []byte) {
	if int64(len(data)) > thumbCacheMaxItem || int64(len(data)) != size {
		data = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(base)
	for {
		full := len(c.entries) >= thumbCacheEntries
		over := data != nil && c.bytes+int64(len(data)) > thumbCacheBytes
		if !full && !over {
			break
		}
		if !c.evictOneLocked(over) {
			data = nil // nothing left to evict: keep the key only
			break
		}
	}
	c.entries[base] = thumbEntry{key: key, size: size, data: data, at: c.now()}
	c.bytes += int64(len(data))
}

// hold adds the bytes of a remembered key (read from the store after the
// key was remembered without them).
func (c *thumbCache) hold(key string, data []byte) {
	base := thumbBase(key)
	c.mu.Lock()
	e, ok := c.entries[base]
	c.mu.Unlock()
	if ok && e.key == key && e.data == nil {
		c.put(base, key, e.size, data)
	}
}

// forget drops the entry that names key (its blob was not found).
func (c *thumbCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	base := thumbBase(key)
	if e, ok := c.entries[base]; ok && e.key == key {
		c.dropLocked(base)
	}
}

func (c *thumbCache) dropLocked(base string) {
	if e, ok := c.entries[base]; ok {
		c.bytes -= int64(len(e.data))
		delete(c.entries, base)
	}
}

// evictOneLocked drops an entry, one that holds bytes when bytes are
// needed (map order is random enough for a cache of immutable items).
func (c *thumbCache) evictOneLocked(bytes bool) bool {
	victim, found := "", false
	for base, e := range c.entries {
		victim, found = base, true
		if !bytes || e.data != nil {
			break
		}
	}
	if found {
		c.dropLocked(victim)
	}
	return found
}

// thumbBase is the base (set, size and method) of a thumbnail key: the
// key without its extension.
func thumbBase(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i]
	}
	return key
}
