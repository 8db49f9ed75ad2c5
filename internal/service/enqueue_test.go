package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// flakyJobs fails its first n publishes, as a JetStream stream does while
// its cluster elects a new leader (no real server can be made to refuse
// exactly n publishes on cue).
type flakyJobs struct {
	mu        sync.Mutex
	failFirst int
	calls     int
	published chan uint64
}

func (f *flakyJobs) Enqueue(_ context.Context, _ media.Record, rev uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.failFirst {
		return errors.New("nats: no response from stream")
	}
	f.published <- rev
	return nil
}

// A failed publish is retried in the background, so the upload's scan is
// queued seconds after the stream is back instead of at the reconciler's
// next re-enqueue.
func TestEnqueueRetriesInTheBackground(t *testing.T) {
	f := &flakyJobs{failFirst: 3, published: make(chan uint64, 1)}
	jobs := newRetryingJobs(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rec := media.NewPending("example.org", media.NewMediaID(), "@a:example.org", time.Now(), media.Content{})
	ctx, cancel := context.WithCancel(context.Background())
	if err := jobs.Enqueue(ctx, rec, 7); err == nil {
		t.Fatal("a failed publish reported success")
	}
	cancel() // the request is over; the retry goes on
	select {
	case rev := <-f.published:
		if rev != 7 {
			t.Fatalf("published revision %d, want 7", rev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the failed publish was not retried")
	}
}
