package scan_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"sort"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/scan/clamd"
	"github.com/mediarepo/mediarepo/internal/scan/icap"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// BenchmarkEngines measures, in the same run and interleaved per
// iteration, one scan of unique content (clamd caches verdicts by hash)
// through clamd INSTREAM directly, through ICAP (c-icap → the same clamd),
// and through both as one list (scan.Engines, one read fanned out). It
// reports the medians and the goals' ratios: icap-vs-clamd (throughput,
// clamd time / ICAP time; goal ≥ 0.8 for 1 MB) and two-vs-slower (the list
// / the slower engine alone; goal ≤ 1.2). Conditions: sequential scans,
// loopback, both engines backed by the one test clamd (so the list's two
// scans compete for the same clamd and its 2 cores).
func BenchmarkEngines(b *testing.B) {
	c, err := clamd.New(clamd.Config{Address: testenv.ClamdAddr(b)})
	if err != nil {
		b.Fatal(err)
	}
	i, err := icap.New(icap.Config{URL: testenv.ICAPURL(b), MaxSize: testenv.ClamdStreamMax(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer i.Close()
	both, err := scan.NewEngines(scan.PolicyAll, scan.Engine{Name: "clamd", Scanner: c}, scan.Engine{Name: "icap", Scanner: i})
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []struct {
		name string
		n    int
	}{{"10KB", 10 << 10}, {"1MB", 1 << 20}} {
		b.Run(size.name, func(b *testing.B) {
			ctx := context.Background()
			scanners := []scan.Scanner{c, i, both}
			times := make([][]time.Duration, len(scanners))
			data := make([]byte, size.n)
			for b.Loop() {
				for k, s := range scanners {
					_, _ = rand.Read(data) // unique content: no engine cache hit
					start := time.Now()
					v, err := s.Scan(ctx, bytes.NewReader(data))
					times[k] = append(times[k], time.Since(start))
					if err != nil || !v.Clean() {
						b.Fatalf("scanner %d: %+v, %v", k, v, err)
					}
				}
			}
			med := make([]float64, len(scanners))
			for k := range times {
				med[k] = median(times[k]).Seconds() * 1000
			}
			b.ReportMetric(med[0], "clamd-ms")
			b.ReportMetric(med[1], "icap-ms")
			b.ReportMetric(med[2], "two-ms")
			b.ReportMetric(med[0]/med[1], "icap-vs-clamd")
			b.ReportMetric(med[2]/max(med[0], med[1]), "two-vs-slower")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
