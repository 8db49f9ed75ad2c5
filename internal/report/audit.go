package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/audit"
)

// ForwardAudit turns every entry of the officers' audit stream into a
// report of kind officer_action in the outbox, until ctx ends: a durable
// consumer ("reports") acknowledges an entry only once its report is
// stored, so no officer action is missed across restarts. The report's
// ID is the entry's sequence, so a redelivered entry is stored once.
func (o *Outbox) ForwardAudit(ctx context.Context, auditStream string) error {
	if auditStream == "" {
		auditStream = audit.DefaultStream
	}
	var st jetstream.Stream
	for { // the officers' part creates the stream; it may come later
		var err error
		st, err = o.js.Stream(ctx, auditStream)
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			o.log.Warn("report: audit stream", "stream", auditStream, "err", err)
		}
		sleep(ctx, 2*time.Second)
		if ctx.Err() != nil {
			return nil
		}
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "reports", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxDeliver: -1,
	})
	if err != nil {
		return fmt.Errorf("report: audit consumer: %w", err)
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(32, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			sleep(ctx, time.Second)
			continue
		}
		for msg := range batch.Messages() {
			var e audit.Entry
			if err := json.Unmarshal(msg.Data(), &e); err != nil {
				o.log.Error("report: audit entry not understood; not reported", "err", err)
				_ = msg.Term()
				continue
			}
			md, err := msg.Metadata()
			if err != nil {
				_ = msg.Nak()
				continue
			}
			r := Report{ID: "audit-" + strconv.FormatUint(md.Sequence.Stream, 10), Kind: KindOfficerAction, At: e.At,
				MXC: e.Target, Action: e.Action, Actor: e.Actor, Reason: e.Reason, State: e.To}
			if r.At.IsZero() {
				r.At = md.Timestamp
			}
			if err := o.Publish(ctx, r); err != nil {
				o.log.Warn("report: officer action not yet in the outbox; trying again", "err", err)
				_ = msg.NakWithDelay(time.Second)
				continue
			}
			_ = msg.Ack()
		}
	}
	return nil
}
