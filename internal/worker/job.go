package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// Delivery is one delivery of a scan job by the queue, with the JetStream
// acknowledgement vocabulary (*queue.Delivery has it).
type Delivery interface {
	// Job returns the job this delivery carries. The worker trusts only
	// the record: the job's revision and blob key are for logs.
	Job() queue.Job
	// NumDelivered is 1 on the first delivery.
	NumDelivered() uint64
	// Last reports whether the server will not deliver the job again.
	Last() bool
	// Ack removes the job from the queue.
	Ack(ctx context.Context) error
	// NakWithDelay hands the job back, to be redelivered after delay.
	NakWithDelay(delay time.Duration) error
	// InProgress resets the job's ack timer.
	InProgress() error
}

// outcome of one delivery, for the log and the tests.
type outcome string

const (
	outcomeStored  outcome = "stored"  // a verdict was stored (and settled)
	outcomeSettled outcome = "settled" // an earlier verdict's follow-ups were finished
	outcomeDropped outcome = "dropped" // nothing to decide: gone, decided or stale
	outcomeRetry   outcome = "retry"   // transient failure: NakWithDelay
	outcomeFailed  outcome = "failed"  // last delivery failed: blocked as scan failed
)

// Handle processes one delivery to its end: it acks once the verdict is
// stored (or there is nothing to decide), naks with a delay on transient
// trouble, and blocks the media on the last delivery. It returns only when
// the delivery was acked or nakked (or ctx ended: the job is then
// redelivered after AckWait).
func (w *Worker) Handle(ctx context.Context, d Delivery) {
	job := d.Job()
	log := w.log.With("media", media.MXC(job.Origin, job.MediaID), "revision", job.Revision, "delivery", d.NumDelivered())
	stop := w.heartbeat(d, log)
	out, err := w.process(ctx, job, log)
	if err != nil && ctx.Err() != nil {
		stop()
		// Shutting down: hand the job back at once for another worker.
		if nerr := d.NakWithDelay(0); nerr != nil {
			log.Warn("handing back the job on shutdown failed; it is redelivered after AckWait", "err", nerr)
		}
		return
	}
	if err != nil && d.Last() {
		out, err = w.failScan(ctx, job, d.NumDelivered(), err, log)
	}
	stop()
	if err != nil {
		delay := w.backoff(d.NumDelivered())
		w.metrics.retries.WithLabelValues(cause(err)).Inc()
		log.Warn("scan job failed, retrying", "err", err, "retry_in", delay)
		if nerr := d.NakWithDelay(delay); nerr != nil {
			log.Warn("nak failed; the job is redelivered after AckWait", "err", nerr)
		}
		return
	}
	if aerr := d.Ack(ctx); aerr != nil {
		// The verdict is stored; a redelivery finds the record decided.
		log.Warn("ack failed after the verdict was stored", "outcome", out, "err", aerr)
		return
	}
	log.Debug("scan job done", "outcome", out)
}

// heartbeat sends InProgress every AckWait/3 until the returned stop is
// called.
func (w *Worker) heartbeat(d Delivery, log *slog.Logger) (stop func()) {
	return every(w.opts.AckWait/3, func() bool {
		if err := d.InProgress(); err != nil {
			log.Warn("InProgress heartbeat failed", "err", err)
		}
		return true
	})
}

// every calls fn every interval in a goroutine until fn returns false or
// stop is called; stop waits for a running fn.
func every(interval time.Duration, fn func() bool) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if !fn() {
					return
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// process decides one job. A nil error means: ack. Errors are transient.
func (w *Worker) process(ctx context.Context, job queue.Job, log *slog.Logger) (outcome, error) {
	rec, _, err := w.cat.Get(ctx, job.Origin, job.MediaID)
	if errors.Is(err, media.ErrNotFound) {
		// Uploads write the record before they publish the job, so a job
		// without its record is a read that lags behind the write (a
		// JetStream KV follower answering a direct get in a cluster) far
		// more often than a record that went away. Retry with the usual
		// backoff; the last delivery drops it (failScan finds nothing to
		// block).
		return "", fmt.Errorf("%w: the record is not visible (yet): %w", errCatalog, err)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", errCatalog, err)
	}
	if rec.State != media.StatePending {
		if settledByWorker(rec) {
			// A redelivery after a crash between the verdict and its
			// follow-ups (hash block, quarantine move), or a duplicate.
			if err := w.settle(ctx, rec, log); err != nil {
				return "", err
			}
			if err := w.report(ctx, rec); err != nil {
				return "", err
			}
			return outcomeSettled, nil
		}
		w.metrics.dropped.WithLabelValues("decided").Inc()
		log.Info("scan job dropped: record no longer pending", "state", rec.State)
		return outcomeDropped, nil
	}
	v, source, err := w.verdictFor(ctx, rec)
	if errors.Is(err, errBlobMismatch) || errors.Is(err, storage.ErrNotFound) || errors.Is(err, sealed.ErrTampered) {
		if moved, merr := w.blobMoved(ctx, rec); merr != nil || moved {
			return "", fmt.Errorf("%w: %w (the record's blob key changed meanwhile)", errStorage, err)
		}
		log.Error("stored blob unusable: blocking the media", "blob", rec.BlobKey, "err", err)
		v, source = media.Verdict{Result: media.ResultFailed, ScannedAt: w.now(), Reason: "stored blob unusable: " + err.Error()}, "scan"
	} else if err != nil {
		return "", err
	}
	return w.store(ctx, rec, v, source, log)
}

// blobMoved reports whether the record now names another blob key than
// rec did (a quarantine move raced with this scan): the job is retried.
func (w *Worker) blobMoved(ctx context.Context, rec media.Record) (bool, error) {
	now, _, err := w.cat.Get(ctx, rec.Origin, rec.ID)
	if err != nil {
		return false, err
	}
	return now.BlobKey != rec.BlobKey, nil
}

// failScan blocks the media after the last delivery failed with cause.
func (w *Worker) failScan(ctx context.Context, job queue.Job, deliveries uint64, cause error, log *slog.Logger) (outcome, error) {
	v := media.Verdict{Result: media.ResultFailed, ScannedAt: w.now(),
		Reason: fmt.Sprintf("scan failed after %d deliveries: %v", deliveries, cause)}
	rec, _, err := w.cat.Get(ctx, job.Origin, job.MediaID)
	if err == nil && rec.State == media.StatePending {
		if err := w.reportAhead(ctx, rec, v); err != nil {
			// Neither stored nor reported: the record stays pending (not
			// served) and the reconciler publishes its job again after
			// maintenance.stuck_after, so the report is not lost.
			log.Error("scan failed on the last delivery and its report could not be published: the media stays pending until the reconciler retries it",
				"cause", cause, "err", err)
			return outcomeFailed, nil
		}
	}
	_, _, err = w.applyVerdict(ctx, job.Origin, job.MediaID, v)
	switch {
	case errors.Is(err, media.ErrStale) || errors.Is(err, media.ErrNotFound):
		w.metrics.dropped.WithLabelValues("stale").Inc()
		log.Info("scan failed on the last delivery, but the record was decided meanwhile", "cause", cause)
		return outcomeDropped, nil
	case err != nil:
		// Not even the block could be stored. The record stays pending
		// (never served) and the reconciler re-enqueues it; keep the job
		// from being redelivered forever.
		log.Error("scan failed on the last delivery and blocking the media failed too", "cause", cause, "err", err)
		return outcomeFailed, nil
	}
	w.metrics.failures.Inc()
	w.metrics.verdicts.WithLabelValues(string(media.ResultFailed), "scan").Inc()
	log.Error("scan failed on the last delivery: media blocked", "cause", cause, "deliveries", deliveries)
	return outcomeFailed, nil
}

// backoff returns the NakWithDelay delay after the n-th delivery.
func (w *Worker) backoff(n uint64) time.Duration {
	d := w.opts.BackoffBase
	for i := uint64(1); i < n && d < w.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, w.opts.BackoffMax)
	jitter := time.Duration(float64(d) * 0.1 * (2*rand.Float64() - 1))
	return d + jitter
}

// cause classifies a transient error for the retries metric.
func cause(err error) string {
	switch {
	case errors.Is(err, scan.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return "engine"
	case errors.Is(err, errStorage), errors.Is(err, sealed.ErrUnknownKey):
		return "storage"
	case errors.Is(err, errCatalog), errors.Is(err, media.ErrConflict):
		return "catalog"
	}
	return "other"
}
