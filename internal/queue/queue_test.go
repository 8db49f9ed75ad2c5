package queue

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

var sha = strings.Repeat("c3", 32)

// connect opens a client connection (its own, like a separate worker
// process) to the server at url.
func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect to embedded NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func newQueue(t *testing.T, js jetstream.JetStream, opts Options) *Queue {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	q, err := New(t.Context(), js, opts, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func testJob(id string, rev uint64) Job {
	rec := media.NewPending("matrix.example.org:8448", id, "@alice:example.org", time.Now(),
		media.Content{Size: 5, SHA256: sha, BlobKey: "blobs/" + sha})
	return JobFor(rec, rev, "upload", time.Now())
}

// consume runs q.Consume in the background until the test ends and
// returns a channel that receives its result.
func consume(t *testing.T, q *Queue, concurrency int, handle func(context.Context, *Delivery)) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- q.Consume(ctx, concurrency, handle) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Consume did not return within 10s of cancel")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func waitStats(t *testing.T, q *Queue, what string, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := q.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func receive(t *testing.T, ch <-chan *Delivery, within time.Duration) *Delivery {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(within):
		t.Fatalf("no delivery within %s", within)
		return nil
	}
}

func TestPublishConsumeAck(t *testing.T) {
	_, js := connect(t, testenv.NATSURL(t))
	q := newQueue(t, js, Options{})
	job := testJob("abc", 7)
	res, err := q.Publish(t.Context(), job)
	if err != nil || res.Duplicate || res.Sequence == 0 {
		t.Fatalf("Publish = %+v, %v", res, err)
	}
	// The consumer's pending count follows the stream asynchronously.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n, err := q.Pending(t.Context())
		if err == nil && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Pending = %d, %v; want 1", n, err)
		}
	}
	got := make(chan *Delivery, 1)
	stop := consume(t, q, 2, func(ctx context.Context, d *Delivery) {
		if err := d.Ack(ctx); err != nil {
			t.Error(err)
		}
		got <- d
	})
	d := receive(t, got, 5*time.Second)
	j := d.Job()
	if j.Origin != job.Origin || j.MediaID != "abc" || j.Revision != 7 || j.SHA256 != sha || j.BlobKey != job.BlobKey || j.Size != 5 || j.Reason != "upload" {
		t.Fatalf("job = %+v, want %+v", j, job)
	}
	if d.NumDelivered() != 1 || d.Last() || d.Sequence() != res.Sequence {
		t.Fatalf("delivery %d/%v seq %d", d.NumDelivered(), d.Last(), d.Sequence())
	}
	waitStats(t, q, "acked job still in the stream", func(s Stats) bool { return s.Messages == 0 && s.Pending == 0 && s.AckPending == 0 })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume returned %v, want context.Canceled", err)
	}
}

func TestDeduplication(t *testing.T) {
	_, js := connect(t, testenv.NATSURL(t))
	q := newQueue(t, js, Options{})
	ctx := t.Context()
	first, err := q.Publish(ctx, testJob("abc", 7))
	if err != nil {
		t.Fatal(err)
	}
	again, err := q.Publish(ctx, testJob("abc", 7))
	if err != nil || !again.Duplicate || again.Sequence != first.Sequence {
		t.Fatalf("same revision: %+v, %v; want duplicate of %d", again, err, first.Sequence)
	}
	rescan, err := q.Publish(ctx, testJob("abc", 9))
	if err != nil || rescan.Duplicate {
		t.Fatalf("new revision (rescan) deduplicated: %+v, %v", rescan, err)
	}
	other, err := q.Publish(ctx, testJob("abd", 7))
	if err != nil || other.Duplicate {
		t.Fatalf("other media, same revision, deduplicated: %+v, %v", other, err)
	}
	waitStats(t, q, "three distinct jobs", func(s Stats) bool { return s.Messages == 3 && s.Pending == 3 })
	for _, bad := range []Job{testJob("abc", 0), {Origin: "bad host", MediaID: "x", Revision: 1}, {Origin: "example.org", MediaID: "a/b", Revision: 1}} {
		if _, err := q.Publish(ctx, bad); err == nil {
			t.Errorf("Publish(%+v) accepted", bad)
		}
	}
}

func TestNakWithDelayRedelivers(t *testing.T) {
	_, js := connect(t, testenv.NATSURL(t))
	q := newQueue(t, js, Options{})
	got := make(chan *Delivery, 4)
	var firstAt atomic.Int64
	consume(t, q, 1, func(ctx context.Context, d *Delivery) {
		if d.NumDelivered() == 1 {
			firstAt.Store(time.Now().UnixNano())
			if err := d.NakWithDelay(700 * time.Millisecond); err != nil {
				t.Error(err)
			}
		} else if err := d.Ack(ctx); err != nil {
			t.Error(err)
		}
		got <- d
	})
	if _, err := q.Publish(t.Context(), testJob("nak", 1)); err != nil {
		t.Fatal(err)
	}
	receive(t, got, 5*time.Second)
	d := receive(t, got, 5*time.Second)
	gap := time.Since(time.Unix(0, firstAt.Load()))
	if d.NumDelivered() != 2 || gap < 600*time.Millisecond {
		t.Fatalf("redelivery %d after %s; want 2 after the 700ms delay", d.NumDelivered(), gap)
	}
	waitStats(t, q, "acked after redelivery", func(s Stats) bool { return s.Messages == 0 })
}

// TestMaxDeliver: the handler sees the last delivery, and acking it (after
// the worker stored "scan failed") removes the job; without that the
// work-queue stream would keep it, undeliverable, forever.
func TestMaxDeliver(t *testing.T) {
	_, js := connect(t, testenv.NATSURL(t))
	q := newQueue(t, js, Options{MaxDeliver: 3})
	var mu sync.Mutex
	seen := map[string][]uint64{}
	lastSeen := make(chan string, 4)
	consume(t, q, 2, func(ctx context.Context, d *Delivery) {
		id := d.Job().MediaID
		mu.Lock()
		seen[id] = append(seen[id], d.NumDelivered())
		mu.Unlock()
		if !d.Last() {
			_ = d.Nak()
			return
		}
		lastSeen <- id
		if id == "acked" {
			_ = d.Ack(ctx)
		} else {
			_ = d.Nak() // a worker that forgets: the server stops, the stream keeps it
		}
	})
	for _, id := range []string{"acked", "forgotten"} {
		if _, err := q.Publish(t.Context(), testJob(id, 1)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		select {
		case <-lastSeen:
		case <-time.After(10 * time.Second):
			t.Fatal("the last delivery never came")
		}
	}
	st := waitStats(t, q, "only the forgotten job left", func(s Stats) bool { return s.Messages == 1 && s.AckPending == 0 })
	time.Sleep(500 * time.Millisecond) // no fourth delivery
	mu.Lock()
	defer mu.Unlock()
	for _, id := range []string{"acked", "forgotten"} {
		if got := seen[id]; len(got) != 3 || got[0] != 1 || got[2] != 3 {
			t.Errorf("%s delivered %v, want [1 2 3]", id, got)
		}
	}
	if st.Pending != 0 {
		t.Errorf("forgotten job counted as pending: %+v", st)
	}
}

func TestTermRemovesJob(t *testing.T) {
	_, js := connect(t, testenv.NATSURL(t))
	q := newQueue(t, js, Options{})
	var calls atomic.Int32
	consume(t, q, 1, func(ctx context.Context, d *Delivery) {
		calls.Add(1)
		_ = d.Term("never succeeds")
	})
	if _, err := q.Publish(t.Context(), testJob("term", 1)); err != nil {
		t.Fatal(err)
	}
	// A malformed message is terminated without reaching the handler.
	if _, err := js.Publish(t.Context(), "mediarepo.scan.jobs", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	waitStats(t, q, "terminated jobs still in the stream", func(s Stats) bool { return s.Messages == 0 && s.Pending == 0 })
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times, want 1", n)
	}
}

// TestKilledConsumerRedelivers: a worker takes a job and dies (its
// connection closes without an ack); another worker gets the job after
// AckWait.
func TestKilledConsumerRedelivers(t *testing.T) {
	url := testenv.NATSURL(t)
	nc1, js1 := connect(t, url)
	_, js2 := connect(t, url)
	opts := Options{AckWait: time.Second}
	q1, q2 := newQueue(t, js1, opts), newQueue(t, js2, opts)

	taken := make(chan time.Time, 1)
	consume(t, q1, 1, func(ctx context.Context, d *Delivery) {
		taken <- time.Now()
		<-ctx.Done() // mid-scan when the process dies; never acks
	})
	if _, err := q2.Publish(t.Context(), testJob("victim", 3)); err != nil {
		t.Fatal(err)
	}
	var at time.Time
	select {
	case at = <-taken:
	case <-time.After(5 * time.Second):
		t.Fatal("first worker got nothing")
	}
	nc1.Close() // kill -9, as far as the server can tell

	got := make(chan *Delivery, 1)
	consume(t, q2, 1, func(ctx context.Context, d *Delivery) {
		if err := d.Ack(ctx); err != nil {
			t.Error(err)
		}
		got <- d
	})
	d := receive(t, got, 10*time.Second)
	if gap := time.Since(at); d.NumDelivered() != 2 || gap < 900*time.Millisecond {
		t.Fatalf("redelivered as %d after %s; want 2 after AckWait", d.NumDelivered(), gap)
	}
	if d.Job().MediaID != "victim" || d.Job().Revision != 3 {
		t.Fatalf("job = %+v", d.Job())
	}
}

// TestInProgressHoldsJob: heartbeats keep a long scan's job from being
// redelivered to another slot.
func TestInProgressHoldsJob(t *testing.T) {
	_, js := connect(t, testenv.NATSURL(t))
	q := newQueue(t, js, Options{AckWait: time.Second})
	var deliveries atomic.Int32
	done := make(chan struct{})
	consume(t, q, 2, func(ctx context.Context, d *Delivery) {
		deliveries.Add(1)
		for range 8 { // 2.4s, well past AckWait
			time.Sleep(300 * time.Millisecond)
			if err := d.InProgress(); err != nil {
				t.Error(err)
			}
		}
		if err := d.Ack(ctx); err != nil {
			t.Error(err)
		}
		close(done)
	})
	if _, err := q.Publish(t.Context(), testJob("long", 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("long scan did not finish")
	}
	if n := deliveries.Load(); n != 1 {
		t.Fatalf("%d deliveries of a job under InProgress, want 1", n)
	}
}
