package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Background retries of a failed job publish: a JetStream cluster that
// lost a server elects a new stream leader within seconds, and an upload
// whose record is stored should not wait for the reconciler's re-enqueue
// (minutes) because its publish fell into that gap. The fault test
// (internal/faults) found uploads pending for ten minutes after a NATS
// server was killed.
const (
	// enqueueRetrySlots bounds the retries in flight; past it (NATS down
	// for long) the reconciler re-enqueues.
	enqueueRetrySlots = 256
	// enqueueRetryFor is how long one publish is retried.
	enqueueRetryFor = time.Minute
	// enqueueRetryFirst is the first delay; each next one doubles (to 8 s).
	enqueueRetryFirst = 250 * time.Millisecond
)

// retryingJobs publishes through jobs and, when a publish fails, retries
// it in the background with backoff. Retries are safe: a job is keyed by
// the record's revision (Nats-Msg-Id), so a publish that did land once is
// not queued twice.
type retryingJobs struct {
	jobs  Jobs
	slots chan struct{}
	log   *slog.Logger
}

func newRetryingJobs(jobs Jobs, log *slog.Logger) Jobs {
	if jobs == nil {
		return nil
	}
	return &retryingJobs{jobs: jobs, slots: make(chan struct{}, enqueueRetrySlots), log: log}
}

// Enqueue publishes the job. On failure it returns the error, and retries
// in the background when a slot is free.
func (r *retryingJobs) Enqueue(ctx context.Context, rec media.Record, rev uint64) error {
	err := r.jobs.Enqueue(ctx, rec, rev)
	if err == nil {
		return nil
	}
	select {
	case r.slots <- struct{}{}:
	default:
		return fmt.Errorf("%w (no retry slot free: the reconciler re-enqueues it)", err)
	}
	go func() {
		defer func() { <-r.slots }()
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), enqueueRetryFor)
		defer cancel()
		delay := enqueueRetryFirst
		for {
			select {
			case <-bctx.Done():
				r.log.Warn("publishing the scan job kept failing; the reconciler re-enqueues it", "media", rec.MXC())
				return
			case <-time.After(delay):
			}
			if err := r.jobs.Enqueue(bctx, rec, rev); err == nil {
				r.log.Info("scan job published on a retry", "media", rec.MXC())
				return
			}
			delay = min(2*delay, 8*time.Second)
		}
	}()
	return fmt.Errorf("%w (retrying in the background)", err)
}
