package report

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Outbox defaults.
const (
	DefaultStream  = "MEDIAREPO_REPORTS"
	DefaultSubject = "mediarepo.reports"
)

// DefaultBackoff is the wait before each new try of a report a sink did
// not take; the last value repeats. Reports are never dropped: they wait
// in the stream until the sink takes them (MaxAge bounds that).
var DefaultBackoff = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute}

// Options configure the outbox.
type Options struct {
	Stream, Subject string
	Replicas        int
	// MaxAge is how long an unsent report is kept (default 30 days).
	MaxAge time.Duration
	// Backoff overrides DefaultBackoff.
	Backoff []time.Duration
}

// Outbox is the durable queue of reports and, with Run, their dispatcher.
type Outbox struct {
	js      jetstream.JetStream
	stream  jetstream.Stream
	opts    Options
	log     *slog.Logger
	sent    *prometheus.CounterVec
	failed  *prometheus.CounterVec
	waiting *prometheus.GaugeVec
}

// Open creates (or updates) the outbox stream.
func Open(ctx context.Context, js jetstream.JetStream, opts Options, log *slog.Logger, reg prometheus.Registerer) (*Outbox, error) {
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.Subject == "" {
		opts.Subject = DefaultSubject
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = 30 * 24 * time.Hour
	}
	if len(opts.Backoff) == 0 {
		opts.Backoff = DefaultBackoff
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        opts.Stream,
		Description: "mediarepo infection reports waiting for their sinks",
		Subjects:    []string{opts.Subject},
		// Limits, not interest: a report published before a sink's
		// consumer exists (a scanworker starts first) must stay.
		Retention:  jetstream.LimitsPolicy,
		Storage:    jetstream.FileStorage,
		Replicas:   opts.Replicas,
		MaxAge:     opts.MaxAge,
		Duplicates: 10 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("report: stream %s: %w", opts.Stream, err)
	}
	o := &Outbox{js: js, stream: st, opts: opts, log: log,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mediarepo_reports_sent_total",
			Help: "Reports a sink took."}, []string{"sink"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mediarepo_reports_failed_total",
			Help: "Tries to send a report that failed (the report is sent again later)."}, []string{"sink"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mediarepo_reports_waiting",
			Help: "Reports waiting for a sink (not yet taken)."}, []string{"sink"}),
	}
	if reg != nil {
		reg.MustRegister(o.sent, o.failed, o.waiting)
	}
	return o, nil
}

// Publish stores r in the outbox; it returns once the server has it. A
// report with the same ID within 10 minutes is stored once.
func (o *Outbox) Publish(ctx context.Context, r Report) error {
	if err := r.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: o.opts.Subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, r.ID)
	if _, err := o.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("report: publish %s: %w", r.ID, err)
	}
	return nil
}

// Run sends the outbox's reports to every sink until ctx ends: one
// durable consumer per sink, so each sink gets every report, acknowledged
// only after the sink took it and tried again with backoff otherwise.
// Several processes may run it; a report goes to one of them per sink.
func (o *Outbox) Run(ctx context.Context, sinks ...Sink) error {
	errc := make(chan error, len(sinks))
	for _, s := range sinks {
		go func() { errc <- o.runSink(ctx, s) }()
	}
	var first error
	for range sinks {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (o *Outbox) runSink(ctx context.Context, s Sink) error {
	cons, err := o.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       "report-" + s.Name(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxDeliver:    -1,
		MaxAckPending: 64,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("report: consumer for %s: %w", s.Name(), err)
	}
	for ctx.Err() == nil {
		o.observe(ctx, cons, s.Name())
		batch, err := cons.Fetch(16, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			o.log.Warn("report: fetch", "sink", s.Name(), "err", err)
			sleep(ctx, time.Second)
			continue
		}
		for msg := range batch.Messages() {
			o.deliver(ctx, s, msg)
		}
	}
	return nil
}

// deliver sends one report; Ack when the sink took it, NakWithDelay with
// the backoff otherwise, Term for a message that is not a report.
func (o *Outbox) deliver(ctx context.Context, s Sink, msg jetstream.Msg) {
	var r Report
	if err := json.Unmarshal(msg.Data(), &r); err != nil || r.Validate() != nil {
		o.log.Error("report: not a report in the outbox; dropped", "sink", s.Name(), "err", err)
		_ = msg.Term()
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := s.Send(sctx, r)
	cancel()
	if err == nil {
		if err := msg.DoubleAck(ctx); err != nil {
			o.log.Warn("report: ack", "sink", s.Name(), "id", r.ID, "err", err)
		}
		o.sent.WithLabelValues(s.Name()).Inc()
		return
	}
	o.failed.WithLabelValues(s.Name()).Inc()
	n := 1
	if md, mdErr := msg.Metadata(); mdErr == nil {
		n = int(md.NumDelivered)
	}
	delay := o.opts.Backoff[min(n, len(o.opts.Backoff))-1]
	o.log.Warn("report: sink did not take the report; trying again later", "sink", s.Name(), "id", r.ID, "try", n, "retry_in", delay, "err", err)
	_ = msg.NakWithDelay(delay)
}

// observe updates the waiting gauge from the consumer's counts.
func (o *Outbox) observe(ctx context.Context, cons jetstream.Consumer, sink string) {
	info, err := cons.Info(ctx)
	if err != nil {
		return
	}
	o.waiting.WithLabelValues(sink).Set(float64(info.NumPending + uint64(info.NumAckPending)))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
