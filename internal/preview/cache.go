package preview

import (
	"maps"
	"sync"
	"time"
)

// cache keeps previews per URL in this process for their TTL, bounded in
// entries (the oldest expiry goes first). Each replica keeps its own: a
// miss costs one more fetch of the page, and the image it stores again is
// deduplicated by its hash.
type cache struct {
	mu      sync.Mutex
	max     int
	entries map[string]cacheEntry
}

type cacheEntry struct {
	pv      Preview
	expires time.Time
}

func newCache(max int) *cache { return &cache{max: max, entries: map[string]cacheEntry{}} }

// get returns a copy of the preview under key while it has not expired.
func (c *cache) get(key string, now time.Time) (Preview, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		delete(c.entries, key)
		return nil, false
	}
	return maps.Clone(e.pv), true
}

// put keeps pv under key until expires, dropping expired entries and then
// the ones closest to expiry when full.
func (c *cache) put(key string, pv Preview, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		now := time.Now()
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for len(c.entries) >= c.max {
			var oldest string
			var at time.Time
			for k, e := range c.entries {
				if oldest == "" || e.expires.Before(at) {
					oldest, at = k, e.expires
				}
			}
			delete(c.entries, oldest)
		}
	}
	c.entries[key] = cacheEntry{pv: maps.Clone(pv), expires: expires}
}
