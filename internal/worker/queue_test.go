package worker

import (
	"context"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// newQueue creates the real job queue on the fixture's JetStream.
func (f *fixture) newQueue(opts queue.Options) *queue.Queue {
	f.t.Helper()
	if opts.PollWait == 0 {
		opts.PollWait = time.Second
	}
	q, err := queue.New(context.Background(), f.js, opts, testLogger(f.t), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return q
}

// run runs the worker on q until the test ends.
func (f *fixture) run(q *queue.Queue) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.w.Run(ctx, q) }()
	f.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("worker: %v", err)
		}
	})
}

// publish uploads data and publishes its job.
func (f *fixture) publish(q *queue.Queue, data []byte) media.Record {
	f.t.Helper()
	rec, rev := f.upload(data)
	if err := q.Enqueue(context.Background(), rec, rev); err != nil {
		f.t.Fatal(err)
	}
	return rec
}

// await waits until rec leaves pending and returns it.
func (f *fixture) await(rec media.Record, timeout time.Duration) media.Record {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got, err := f.cat.WaitFor(ctx, rec.Origin, rec.ID, func(r media.Record) bool { return r.State != media.StatePending })
	if err != nil {
		f.t.Fatalf("no verdict for %s within %s: %v", rec.MXC(), timeout, err)
	}
	return got
}

func (f *fixture) requireEmpty(q *queue.Queue) {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := q.Stats(context.Background())
		if err != nil {
			f.t.Fatal(err)
		}
		if st.Messages == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("stream still holds %d jobs (%+v)", st.Messages, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestQueueToVerdict: jobs published on the real queue get their verdicts
// from two concurrent workers, and leave the stream.
func TestQueueToVerdict(t *testing.T) {
	f := newFixture(t, nil, nil, Options{Concurrency: 2, HealthInterval: 100 * time.Millisecond})
	q := f.newQueue(queue.Options{})
	f.run(q)
	clean := f.publish(q, testenv.Random(256<<10))
	infected := f.publish(q, testenv.EICAR())
	if got := f.await(clean, 10*time.Second); got.State != media.StateClean {
		t.Fatalf("clean sample: %s", got.State)
	}
	if got := f.await(infected, 10*time.Second); got.State != media.StateQuarantined {
		t.Fatalf("EICAR: %s", got.State)
	}
	f.requireEmpty(q)
	time.Sleep(200 * time.Millisecond)
	if up := value(t, f.w.metrics.clamdUp); up != 1 {
		t.Errorf("clamd up gauge %v, want 1", up)
	}
}

// TestBacklogDrainsAfterClamdReturns: with clamd stopped, jobs are retried
// and nothing is decided; once clamd is back, the backlog drains.
func TestBacklogDrainsAfterClamdReturns(t *testing.T) {
	c := testenv.StartClamd(t)
	f := newFixture(t, newClamd(t, c.Addr()), nil, Options{Concurrency: 2, BackoffBase: 100 * time.Millisecond, BackoffMax: 500 * time.Millisecond, HealthInterval: 100 * time.Millisecond})
	q := f.newQueue(queue.Options{MaxDeliver: 100})
	c.Stop()
	f.run(q)
	var recs []media.Record
	for range 5 {
		recs = append(recs, f.publish(q, testenv.Random(64<<10)))
	}
	time.Sleep(1500 * time.Millisecond)
	for _, r := range recs {
		if got := f.get(r); got.State != media.StatePending {
			t.Fatalf("%s is %s while clamd is down", r.MXC(), got.State)
		}
	}
	if n := value(t, f.w.metrics.retries.WithLabelValues("engine")); n < 5 {
		t.Fatalf("%v retries while clamd is down, want at least one per job", n)
	}
	if up := value(t, f.w.metrics.clamdUp); up != 0 {
		t.Errorf("clamd up gauge %v while it is down", up)
	}
	c.Start()
	for _, r := range recs {
		if got := f.await(r, 15*time.Second); got.State != media.StateClean {
			t.Fatalf("%s: %s after clamd returned, want clean", r.MXC(), got.State)
		}
	}
	f.requireEmpty(q)
}

// TestMaxDeliverBlocksAndRemovesTheJob: a job that fails on every delivery
// ends blocked, counted, and gone from the work-queue stream.
func TestMaxDeliverBlocksAndRemovesTheJob(t *testing.T) {
	c := testenv.StartClamd(t)
	f := newFixture(t, newClamd(t, c.Addr()), nil, Options{BackoffBase: 50 * time.Millisecond})
	q := f.newQueue(queue.Options{MaxDeliver: 3})
	c.Stop()
	f.run(q)
	rec := f.publish(q, testenv.Random(16<<10))
	got := f.await(rec, 15*time.Second)
	if got.State != media.StateBlocked || got.Verdict.Result != media.ResultFailed {
		t.Fatalf("%s %+v; want blocked as scan failed", got.State, got.Verdict)
	}
	f.requireEmpty(q)
	if n := value(t, f.w.metrics.failures); n != 1 {
		t.Fatalf("%v failures counted, want 1", n)
	}
}
