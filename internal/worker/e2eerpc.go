package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/scan"
)

// EncryptedSubject is the core-NATS subject of encrypted-attachment scans
// (request/reply): the key travels in memory to one scan worker and back
// never, and is never written to JetStream, disk, logs or metrics
// (design §2a). Run NATS with TLS between hosts.
const EncryptedSubject = "mediarepo.scan.encrypted"

// encryptedRequest asks a worker to scan one attachment's plaintext.
type encryptedRequest struct {
	Origin string             `json:"origin"`
	ID     string             `json:"id"`
	File   e2ee.EncryptedFile `json:"file"`
}

// encryptedReply carries the verdict or the kind of error.
type encryptedReply struct {
	Verdict *media.Verdict `json:"verdict,omitempty"`
	// Error is "failed_to_decrypt", "malformed", "unavailable",
	// "not_found" or "failed"; Message says more.
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

var errKinds = []struct {
	kind string
	err  error
}{
	{"failed_to_decrypt", e2ee.ErrFailedToDecrypt},
	{"malformed", e2ee.ErrMalformed},
	{"unavailable", scan.ErrUnavailable},
	{"not_found", media.ErrNotFound},
}

// ServeEncrypted answers encrypted scans on EncryptedSubject (queue group
// "scanworkers") until ctx ends: it looks the record up itself, then runs
// ScanEncrypted. Up to Options.Concurrency (scan.workers) requests are
// scanned at once; further ones wait in the subscription's buffer (and
// their callers time out rather than pile up scans). On the way out it
// stops taking requests and waits for the running scans. Used by
// cmd/scanworker.
func ServeEncrypted(ctx context.Context, nc *nats.Conn, w *Worker, log *slog.Logger) error {
	pool := newPool(w.opts.Concurrency)
	sub, err := nc.QueueSubscribe(EncryptedSubject, "scanworkers", func(msg *nats.Msg) {
		pool.run(ctx, func() {
			reply := w.answerEncrypted(ctx, msg.Data)
			b, err := json.Marshal(reply)
			if err == nil {
				err = msg.Respond(b)
			}
			if err != nil {
				log.Warn("answering an encrypted scan failed", "err", err)
			}
		})
	})
	if err != nil {
		return fmt.Errorf("subscribing to %s: %w", EncryptedSubject, err)
	}
	<-ctx.Done()
	err = sub.Unsubscribe()
	pool.close()
	return err
}

// pool runs functions in goroutines, at most size at once; run blocks
// while all are busy.
type pool struct {
	slots  chan struct{}
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newPool(size int) *pool { return &pool{slots: make(chan struct{}, max(1, size))} }

// run starts fn once a slot is free; it drops fn when ctx ends first or
// the pool is closed.
func (p *pool) run(ctx context.Context, fn func()) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		defer func() { <-p.slots }()
		fn()
	}()
}

// close refuses further functions and waits for the running ones.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
}

func (w *Worker) answerEncrypted(ctx context.Context, data []byte) encryptedReply {
	var req encryptedRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return encryptedReply{Error: "malformed", Message: "request is not JSON"}
	}
	rec, _, err := w.cat.Get(ctx, req.Origin, req.ID)
	var v media.Verdict
	if err == nil {
		v, err = w.ScanEncrypted(ctx, rec, req.File)
	}
	if err != nil {
		for _, k := range errKinds {
			if errors.Is(err, k.err) {
				return encryptedReply{Error: k.kind, Message: err.Error()}
			}
		}
		w.log.Error("encrypted scan failed", "media", media.MXC(req.Origin, req.ID), "err", err)
		return encryptedReply{Error: "failed", Message: "scan failed"}
	}
	return encryptedReply{Verdict: &v}
}

// EncryptedClient asks the scan workers over core NATS; it implements
// the service's KeyScanner for mediarepo processes without workers.
type EncryptedClient struct {
	NC *nats.Conn
	// Timeout bounds one request (the scan included).
	Timeout time.Duration
}

// ScanEncrypted implements the service's KeyScanner.
func (c EncryptedClient) ScanEncrypted(ctx context.Context, rec media.Record, f e2ee.EncryptedFile) (media.Verdict, error) {
	b, err := json.Marshal(encryptedRequest{Origin: rec.Origin, ID: rec.ID, File: f})
	if err != nil {
		return media.Verdict{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	msg, err := c.NC.RequestWithContext(ctx, EncryptedSubject, b)
	if err != nil {
		return media.Verdict{}, fmt.Errorf("%w: asking the scan workers: %v", scan.ErrUnavailable, err)
	}
	var reply encryptedReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return media.Verdict{}, fmt.Errorf("%w: bad reply from a scan worker", scan.ErrUnavailable)
	}
	if reply.Error != "" {
		for _, k := range errKinds {
			if k.kind == reply.Error {
				return media.Verdict{}, fmt.Errorf("%w: %s", k.err, reply.Message)
			}
		}
		return media.Verdict{}, fmt.Errorf("scan worker: %s", reply.Message)
	}
	if reply.Verdict == nil {
		return media.Verdict{}, fmt.Errorf("%w: empty reply from a scan worker", scan.ErrUnavailable)
	}
	return *reply.Verdict, nil
}
