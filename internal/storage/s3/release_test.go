package s3

import (
	"sync"
	"testing"
	"time"
)

// The collection runs in the background, never twice at once, and at
// most once per interval however many uploads finish.
func TestPartReleaseBoundsCollections(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	release := make(chan struct{})
	r := &partRelease{minInterval: time.Hour, collect: func() {
		<-release // held until the test lets it end: uploaded must not wait
		mu.Lock()
		calls++
		mu.Unlock()
	}}
	for range 10 {
		r.uploaded() // returns at once although the collection is held
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for r.running.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if r.running.Load() {
		t.Fatal("the collection did not end")
	}
	r.uploaded() // within the interval: no second collection
	time.Sleep(10 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Fatalf("%d collections for 11 uploads within the interval, want 1", calls)
	}
}

// Past the interval, the next multipart upload collects again.
func TestPartReleaseCollectsAgainAfterInterval(t *testing.T) {
	calls := make(chan struct{}, 4)
	r := &partRelease{minInterval: 20 * time.Millisecond, collect: func() { calls <- struct{}{} }}
	r.uploaded()
	<-calls
	time.Sleep(30 * time.Millisecond)
	for r.running.Load() {
		time.Sleep(time.Millisecond)
	}
	r.uploaded()
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no collection after the interval")
	}
}
