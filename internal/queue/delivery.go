package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Delivery is one delivery of a job to a worker, with the JetStream
// acknowledgement vocabulary. Exactly one of Ack, Nak, NakWithDelay or
// Term should end it; InProgress may be sent any number of times before.
type Delivery struct {
	msg        jetstream.Msg
	job        Job
	meta       *jetstream.MsgMetadata
	maxDeliver int
}

// Job returns the job.
func (d *Delivery) Job() Job { return d.job }

// NumDelivered is 1 on the first delivery, 2 on the first redelivery...
func (d *Delivery) NumDelivered() uint64 { return d.meta.NumDelivered }

// Last reports whether this is the last delivery the server will make
// (NumDelivered has reached MaxDeliver): if it fails, the worker blocks
// the media as "scan failed" and then Acks, because the work-queue stream
// keeps an unacknowledged message forever.
func (d *Delivery) Last() bool {
	return d.maxDeliver > 0 && d.meta.NumDelivered >= uint64(d.maxDeliver)
}

// Sequence is the job's sequence number in the stream.
func (d *Delivery) Sequence() uint64 { return d.meta.Sequence.Stream }

// Published is when the job was stored in the stream.
func (d *Delivery) Published() time.Time { return d.meta.Timestamp }

// Ack acknowledges the job and waits for the server to confirm; the job
// is then removed from the stream. Call it only after the verdict is
// stored.
func (d *Delivery) Ack(ctx context.Context) error {
	if err := d.msg.DoubleAck(ctx); err != nil {
		return fmt.Errorf("queue: ack %s: %w", d.job.MsgID(), err)
	}
	return nil
}

// Nak hands the job back for immediate redelivery.
func (d *Delivery) Nak() error { return d.NakWithDelay(0) }

// NakWithDelay hands the job back, to be redelivered after delay (the
// backoff while clamd is down). A delay of 0 redelivers at once.
func (d *Delivery) NakWithDelay(delay time.Duration) error {
	var err error
	if delay <= 0 {
		err = d.msg.Nak()
	} else {
		err = d.msg.NakWithDelay(delay)
	}
	if err != nil {
		return fmt.Errorf("queue: nak %s: %w", d.job.MsgID(), err)
	}
	return nil
}

// InProgress resets the job's AckWait timer (a heartbeat during a long
// scan); send it more often than AckWait.
func (d *Delivery) InProgress() error {
	if err := d.msg.InProgress(); err != nil {
		return fmt.Errorf("queue: in progress %s: %w", d.job.MsgID(), err)
	}
	return nil
}

// Term tells the server never to redeliver the job (it can never
// succeed). On this work-queue stream a terminated job is also removed.
func (d *Delivery) Term(reason string) error {
	if err := d.msg.TermWithReason(reason); err != nil {
		return fmt.Errorf("queue: term %s: %w", d.job.MsgID(), err)
	}
	return nil
}
