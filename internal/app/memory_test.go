package app

import (
	"context"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var sink [][]byte

// TestMemoryReleaserReturnsIdleHeap drops 64 MiB of heap and checks that
// the releaser, once the process is idle, returns it to the system.
func TestMemoryReleaserReturnsIdleHeap(t *testing.T) {
	m := newMemoryReleaser(prometheus.NewRegistry())
	m.every = 50 * time.Millisecond
	released := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(3 * m.every) // the releaser has read its base
	for range 64 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	metrics.Read(released)
	before := released[0].Value.Uint64()
	deadline := time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(m.releases) == 0 && time.Now().Before(deadline) {
		time.Sleep(m.every)
	}
	if testutil.ToFloat64(m.releases) == 0 {
		t.Fatal("no release within 20 s of dropping 64 MiB")
	}
	metrics.Read(released)
	if got := released[0].Value.Uint64(); got < before+32<<20 {
		t.Fatalf("released heap grew from %d to %d bytes, want at least 32 MiB more", before, got)
	}
}
