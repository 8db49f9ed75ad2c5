package app

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Go returns freed heap to the operating system lazily: its background
// scavenger keeps about the last heap goal's worth, so after a burst of
// requests a process stays at its peak RSS for minutes. Operators read
// that as a leak, and a container limit sized for the idle process is
// hit by the next burst on top of it (issue 18: 61.8 MiB held 30 s after
// 1,000 small uploads into a 40.2 MiB process).
//
// memoryReleaser gives the memory back once the process is idle: when no
// garbage collection ran during the last interval (nothing is allocating
// much) and the heap holds more than releaseAbove beyond what was live
// after the last release, it forces a collection and returns every free
// page (debug.FreeOSMemory); the margin grows with the live heap (an
// eighth of it), so a large heap is not collected for little gain. While the process is busy it does nothing:
// the collections that run anyway keep the heap in check, and pages
// returned would only be faulted in again.
const (
	releaseEvery = 5 * time.Second
	releaseAbove = 4 << 20
)

// memoryReleaser is the idle-memory runner of a Server.
type memoryReleaser struct {
	every    time.Duration
	above    uint64
	releases prometheus.Counter
	samples  []metrics.Sample
}

func newMemoryReleaser(reg prometheus.Registerer) *memoryReleaser {
	m := &memoryReleaser{every: releaseEvery, above: releaseAbove,
		releases: prometheus.NewCounter(prometheus.CounterOpts{Name: "mediarepo_memory_releases_total",
			Help: "Times the idle process forced a collection and returned its free heap to the operating system."}),
		samples: []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/heap/free:bytes"}}}
	reg.MustRegister(m.releases)
	return m
}

// read returns the number of collections so far and the heap bytes that
// are not yet returned to the system (objects, live or not yet swept,
// and free pages).
func (m *memoryReleaser) read() (cycles, held uint64) {
	metrics.Read(m.samples)
	return m.samples[0].Value.Uint64(), m.samples[1].Value.Uint64() + m.samples[2].Value.Uint64()
}

// Run releases idle memory until ctx ends.
func (m *memoryReleaser) Run(ctx context.Context) error {
	t := time.NewTicker(m.every)
	defer t.Stop()
	lastCycles, base := m.read()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cycles, held := m.read()
		if cycles != lastCycles {
			lastCycles = cycles // busy: collections ran on their own
			continue
		}
		if held < base+max(m.above, base/8) {
			continue
		}
		debug.FreeOSMemory()
		m.releases.Inc()
		lastCycles, base = m.read()
	}
}
