package worker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// Conditions of these benchmarks: an embedded NATS server with JetStream
// on the file store with sync_interval "always" (the documented default:
// every catalog write and job publish is fsynced), a sealed filesystem
// store on the test's temporary directory, the shared test clamd (small
// signature database) over TCP on loopback, and unique random content
// for every scan (clamd caches clean results by hash, so the direct
// INSTREAM baseline scans other unique bytes of the same size, measured
// interleaved in the same run). Run with a fixed count for stable
// percentiles: -benchtime=100x for BenchmarkTimeToVerdict; each
// iteration of BenchmarkScanThroughput drains 32 files (-benchtime=3x).

// benchFixture is a worker on a NATS server that fsyncs every write.
func benchFixture(b *testing.B, opts Options) *fixture {
	b.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: b.TempDir(), NoSigs: true, NoLog: true, SyncAlways: true})
	if err != nil {
		b.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		b.Fatal("embedded NATS not ready")
	}
	b.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	f := newFixtureWith(b, s.ClientURL(), nil, nil, testKeyring(b), opts)
	f.w.log = slog.New(slog.DiscardHandler)
	return f
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// directScan times one INSTREAM of data straight to clamd.
func directScan(b *testing.B, s scan.Scanner, data []byte) time.Duration {
	start := time.Now()
	v, err := s.Scan(context.Background(), bytes.NewReader(data))
	if err != nil || v.Result != scan.ResultClean {
		b.Fatalf("direct INSTREAM: %+v %v", v, err)
	}
	return time.Since(start)
}

// BenchmarkTimeToVerdict measures, for 1 MB of unique content, the time
// from publishing the job to the verdict being visible through the
// catalog's watch (what a waiting download sees), next to clamd's own
// INSTREAM time for 1 MB of unique content.
func BenchmarkTimeToVerdict(b *testing.B) {
	const size = 1 << 20
	f := benchFixture(b, Options{Concurrency: 1})
	q := f.newQueue(queue.Options{PollWait: time.Second})
	f.run(q)
	// Warm up clamd, NATS and the worker.
	f.await(f.publish(q, testenv.Random(size)), 10*time.Second)
	directScan(b, f.scanner, testenv.Random(size))

	var verdict, direct []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		rec, rev := f.upload(testenv.Random(size))
		other := testenv.Random(size)
		b.StartTimer()
		start := time.Now()
		if err := q.Enqueue(context.Background(), rec, rev); err != nil {
			b.Fatal(err)
		}
		if got := f.await(rec, 30*time.Second); got.State != media.StateClean {
			b.Fatalf("state %s", got.State)
		}
		verdict = append(verdict, time.Since(start))
		b.StopTimer()
		direct = append(direct, directScan(b, f.scanner, other))
		b.StartTimer()
	}
	b.StopTimer()
	p50, p99 := percentile(verdict, 0.5), percentile(verdict, 0.99)
	d50, d99 := percentile(direct, 0.5), percentile(direct, 0.99)
	b.ReportMetric(ms(p50), "verdict-p50-ms")
	b.ReportMetric(ms(p99), "verdict-p99-ms")
	b.ReportMetric(ms(d50), "instream-p50-ms")
	b.ReportMetric(ms(d99), "instream-p99-ms")
	b.ReportMetric(ms(p50-d50), "overhead-p50-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkScanThroughput drains a backlog of 1 MB unique files with 1, 2
// and 4 concurrent scans, next to direct INSTREAM of the same number of
// unique 1 MB buffers with the same concurrency.
func BenchmarkScanThroughput(b *testing.B) {
	const size, files = 1 << 20, 32
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			f := benchFixture(b, Options{Concurrency: n})
			q := f.newQueue(queue.Options{PollWait: time.Second})
			var pipeline, direct time.Duration
			for range b.N {
				recs := make([]media.Record, files)
				for i := range recs {
					recs[i] = f.publish(q, testenv.Random(size))
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- f.w.Run(ctx, q) }()
				for _, r := range recs {
					f.await(r, time.Minute)
				}
				pipeline += time.Since(start)
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				direct += directParallel(b, f.scanner, n, files, size)
			}
			total := float64(b.N * files * size)
			b.ReportMetric(total/pipeline.Seconds()/1e6, "pipeline-MB/s")
			b.ReportMetric(total/direct.Seconds()/1e6, "instream-MB/s")
			b.ReportMetric(float64(b.N*files)/pipeline.Seconds(), "pipeline-files/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// directParallel INSTREAMs files unique buffers of size bytes with n
// concurrent connections and returns the wall time.
func directParallel(b *testing.B, s scan.Scanner, n, files, size int) time.Duration {
	bufs := make([][]byte, files)
	for i := range bufs {
		bufs[i] = testenv.Random(size)
	}
	work := make(chan []byte, files)
	for _, buf := range bufs {
		work <- buf
	}
	close(work)
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for buf := range work {
				if _, err := s.Scan(context.Background(), io.NopCloser(bytes.NewReader(buf))); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}
