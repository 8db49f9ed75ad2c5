package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Options configure the stream and the consumer. Zero values take the
// defaults named on each field. Every process of a deployment must use the
// same values: New updates the stream and consumer to them.
type Options struct {
	// Stream is the work-queue stream's name ("MEDIAREPO_SCAN").
	Stream string
	// Subject carries the jobs ("mediarepo.scan.jobs").
	Subject string
	// Consumer is the durable pull consumer all workers share ("scanworkers").
	Consumer string
	// Replicas of the stream and consumer (1; use 3 in a cluster).
	Replicas int
	// AckWait is how long a delivery may go without Ack, Nak or InProgress
	// before the job is redelivered to another worker (60s).
	AckWait time.Duration
	// MaxDeliver bounds the deliveries of one job (10).
	MaxDeliver int
	// MaxAckPending bounds the jobs handed out and not yet acknowledged
	// across all workers (1000).
	MaxAckPending int
	// DuplicateWindow is how long a Nats-Msg-Id is remembered (2m).
	DuplicateWindow time.Duration
	// PollWait is how long one pull waits for a job before it is renewed
	// (30s); it only bounds idle round trips.
	PollWait time.Duration
}

func (o *Options) defaults() {
	if o.Stream == "" {
		o.Stream = "MEDIAREPO_SCAN"
	}
	if o.Subject == "" {
		o.Subject = "mediarepo.scan.jobs"
	}
	if o.Consumer == "" {
		o.Consumer = "scanworkers"
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.AckWait == 0 {
		o.AckWait = time.Minute
	}
	if o.MaxDeliver == 0 {
		o.MaxDeliver = 10
	}
	if o.MaxAckPending == 0 {
		o.MaxAckPending = 1000
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = 2 * time.Minute
	}
	if o.PollWait == 0 {
		o.PollWait = 30 * time.Second
	}
}

// Queue publishes and consumes scan jobs. It is safe for concurrent use.
type Queue struct {
	js       jetstream.JetStream
	consumer jetstream.Consumer
	opts     Options
	log      *slog.Logger

	published *prometheus.CounterVec
	delivered *prometheus.CounterVec
	malformed prometheus.Counter
}

// New creates or updates the stream and the durable consumer. reg may be
// nil (no metrics registered).
func New(ctx context.Context, js jetstream.JetStream, opts Options, log *slog.Logger, reg prometheus.Registerer) (*Queue, error) {
	opts.defaults()
	q := &Queue{js: js, opts: opts, log: log,
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_scan_jobs_published_total",
			Help: "Scan jobs published, by result (stored, duplicate).",
		}, []string{"result"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_scan_jobs_delivered_total",
			Help: "Scan job deliveries to workers, by kind (first, redelivery, last).",
		}, []string{"kind"}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediarepo_scan_jobs_malformed_total",
			Help: "Scan job messages that could not be decoded and were terminated.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{q.published, q.delivered, q.malformed} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("queue: register metrics: %w", err)
			}
		}
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        opts.Stream,
		Description: "mediarepo scan jobs",
		Subjects:    []string{opts.Subject},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
		Duplicates:  opts.DuplicateWindow,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: stream %s: %w", opts.Stream, err)
	}
	q.consumer, err = js.CreateOrUpdateConsumer(ctx, opts.Stream, jetstream.ConsumerConfig{
		Durable:       opts.Consumer,
		Description:   "mediarepo scan workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxDeliver:    opts.MaxDeliver,
		MaxAckPending: opts.MaxAckPending,
		FilterSubject: opts.Subject,
		Replicas:      opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: consumer %s: %w", opts.Consumer, err)
	}
	return q, nil
}

// AckWait returns the consumer's AckWait (workers send InProgress more
// often than this).
func (q *Queue) AckWait() time.Duration { return q.opts.AckWait }

// MaxDeliver returns the consumer's bound on deliveries per job.
func (q *Queue) MaxDeliver() int { return q.opts.MaxDeliver }

// PublishResult says where a job went.
type PublishResult struct {
	// Sequence is the job's stream sequence (the original's, for a duplicate).
	Sequence uint64
	// Duplicate is true when a job with the same media and revision was
	// already published within the duplicate window; nothing was added.
	Duplicate bool
}

// Publish stores the job in the stream and waits for the server's
// acknowledgement. The Nats-Msg-Id is Job.MsgID.
func (q *Queue) Publish(ctx context.Context, job Job) (PublishResult, error) {
	if err := job.validate(); err != nil {
		return PublishResult{}, err
	}
	data, err := json.Marshal(job)
	if err != nil {
		return PublishResult{}, fmt.Errorf("queue: encode job: %w", err)
	}
	msg := &nats.Msg{Subject: q.opts.Subject, Data: data}
	ack, err := q.js.PublishMsg(ctx, msg, jetstream.WithMsgID(job.MsgID()), jetstream.WithExpectStream(q.opts.Stream))
	if err != nil {
		return PublishResult{}, fmt.Errorf("queue: publish %s: %w", job.MsgID(), err)
	}
	if ack.Duplicate {
		q.published.WithLabelValues("duplicate").Inc()
	} else {
		q.published.WithLabelValues("stored").Inc()
	}
	return PublishResult{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// Enqueue publishes the job of a pending record stored at revision rev
// (the reconciler's and the upload path's shortcut for Publish(JobFor)).
func (q *Queue) Enqueue(ctx context.Context, rec media.Record, rev uint64) error {
	_, err := q.Publish(ctx, JobFor(rec, rev, "", time.Now()))
	return err
}

// Consume hands deliveries to handle, at most concurrency at a time, until
// ctx ends; it returns ctx's error after the running handlers returned.
// Each slot pulls one job only when it is free, so no job waits in a local
// buffer while its AckWait runs. handle gets ctx and must end the delivery
// (Ack, Nak, NakWithDelay or Term); a handler that returns without doing
// so leaves the job to be redelivered after AckWait. A message that is not
// a valid job is terminated and counted.
func (q *Queue) Consume(ctx context.Context, concurrency int, handle func(context.Context, *Delivery)) error {
	if concurrency < 1 {
		return fmt.Errorf("queue: concurrency must be at least 1, not %d", concurrency)
	}
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	for range concurrency {
		wg.Go(func() { errs <- q.slot(ctx, handle) })
	}
	wg.Wait()
	close(errs)
	var first error
	for err := range errs {
		if first == nil && err != nil && !errors.Is(err, ctx.Err()) {
			first = err
		}
	}
	if first != nil {
		return first
	}
	return ctx.Err()
}

// slot pulls and handles one job at a time until ctx ends or the consumer
// is gone.
func (q *Queue) slot(ctx context.Context, handle func(context.Context, *Delivery)) error {
	for ctx.Err() == nil {
		pollCtx, cancel := context.WithTimeout(ctx, q.opts.PollWait)
		msg, err := q.consumer.Next(jetstream.FetchContext(pollCtx))
		cancel()
		switch {
		case ctx.Err() != nil:
			if msg != nil {
				_ = msg.Nak() // hand it back at once
			}
			return ctx.Err()
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, nats.ErrConnectionClosed):
			return fmt.Errorf("queue: consume from %s: %w", q.opts.Consumer, err)
		case err != nil:
			// Timeouts of an idle pull, or transient trouble: pull again.
			if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
				q.log.WarnContext(ctx, "queue: pull failed, retrying", "error", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		d, err := q.delivery(msg)
		if err != nil {
			q.malformed.Inc()
			q.log.ErrorContext(ctx, "queue: malformed scan job terminated", "error", err)
			_ = msg.TermWithReason("malformed job")
			continue
		}
		switch {
		case d.Last():
			q.delivered.WithLabelValues("last").Inc()
		case d.NumDelivered() > 1:
			q.delivered.WithLabelValues("redelivery").Inc()
		default:
			q.delivered.WithLabelValues("first").Inc()
		}
		handle(ctx, d)
	}
	return ctx.Err()
}

func (q *Queue) delivery(msg jetstream.Msg) (*Delivery, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return nil, err
	}
	var job Job
	if err := json.Unmarshal(msg.Data(), &job); err != nil {
		return nil, fmt.Errorf("decode job at sequence %d: %w", meta.Sequence.Stream, err)
	}
	if err := job.validate(); err != nil {
		return nil, fmt.Errorf("job at sequence %d: %w", meta.Sequence.Stream, err)
	}
	return &Delivery{msg: msg, job: job, meta: meta, maxDeliver: q.opts.MaxDeliver}, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Stats describes the queue for metrics and autoscaling.
type Stats struct {
	// Pending jobs not yet delivered to any worker (the queue depth).
	Pending uint64
	// AckPending jobs delivered and not yet acknowledged (being scanned).
	AckPending int
	// Redelivered jobs currently out for a second or later delivery.
	Redelivered int
	// Messages in the stream (includes jobs past MaxDeliver that nobody
	// acked: they stay in a work-queue stream until removed).
	Messages uint64
}

// Stats asks the server for the consumer's and stream's counters.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	ci, err := q.consumer.Info(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("queue: consumer info: %w", err)
	}
	s, err := q.js.Stream(ctx, q.opts.Stream)
	if err != nil {
		return Stats{}, fmt.Errorf("queue: stream: %w", err)
	}
	si, err := s.Info(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("queue: stream info: %w", err)
	}
	return Stats{Pending: ci.NumPending, AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered, Messages: si.State.Msgs}, nil
}

// Pending returns the queue depth: jobs not yet delivered to any worker.
func (q *Queue) Pending(ctx context.Context) (uint64, error) {
	ci, err := q.consumer.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("queue: consumer info: %w", err)
	}
	return ci.NumPending, nil
}
