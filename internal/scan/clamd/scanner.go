// Package clamd is the ClamAV backend of scan.Scanner: it streams content
// to clamd with INSTREAM over TCP or a unix socket, and uses PING and
// VERSION for readiness and for the engine and signature versions stored
// with every verdict.
//
// INSTREAM is implemented here; github.com/baruwa-enterprise/clamd v1.0.1
// is used only for PING and VERSION. Its INSTREAM loop has four defects,
// each covered by a regression test against real clamd in this package:
//
//   - (a) false negatives: a Read that returns n > 0 together with io.EOF
//     (minio.Object does this) has its bytes dropped, so EICAR read from
//     MinIO scans OK;
//   - (b) 1 KiB chunks with a flush each: slower than 64 KiB chunks
//     (BenchmarkInstream has the figures);
//   - (c) over StreamMaxLength it reports "broken pipe" instead of clamd's
//     "INSTREAM size limit exceeded", turning a final "unscannable" into a
//     transient error retried forever;
//   - (d) ctx covers only the dial: a stalled clamd holds the caller for
//     the library's one-minute command timeout per read.
//
// For PING and VERSION, where (a)-(c) do not apply, the library call runs
// with its timeouts taken from ctx, and Scanner returns when ctx ends.
package clamd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	baruwa "github.com/baruwa-enterprise/clamd"

	"github.com/mediarepo/mediarepo/internal/scan"
)

// Defaults for Config's zero values.
const (
	DefaultChunkSize      = 64 << 10
	DefaultDialTimeout    = 5 * time.Second
	DefaultCommandTimeout = 10 * time.Second
)

// Config configures a Scanner.
type Config struct {
	// Address is "tcp://host:port" or "unix:///path/to/clamd.sock".
	Address string
	// ChunkSize is the INSTREAM chunk size (default 64 KiB).
	ChunkSize int
	// DialTimeout bounds connecting to clamd (default 5 s).
	DialTimeout time.Duration
	// CommandTimeout bounds PING and VERSION when ctx has no earlier
	// deadline (default 10 s). Scans are bounded by ctx only.
	CommandTimeout time.Duration
}

// Scanner is a scan.Scanner backed by clamd. It holds no connection
// between calls and is safe for concurrent use.
type Scanner struct {
	network, address string
	chunkSize        int
	dialTimeout      time.Duration
	cmdTimeout       time.Duration
	now              func() time.Time
}

var _ scan.Scanner = (*Scanner)(nil)

// New returns a Scanner for cfg. It does not connect; use Ping to check
// that clamd answers.
func New(cfg Config) (*Scanner, error) {
	network, address, err := ParseAddress(cfg.Address)
	if err != nil {
		return nil, err
	}
	s := &Scanner{
		network:     network,
		address:     address,
		chunkSize:   cfg.ChunkSize,
		dialTimeout: cfg.DialTimeout,
		cmdTimeout:  cfg.CommandTimeout,
		now:         time.Now,
	}
	if s.chunkSize <= 0 {
		s.chunkSize = DefaultChunkSize
	}
	if s.dialTimeout <= 0 {
		s.dialTimeout = DefaultDialTimeout
	}
	if s.cmdTimeout <= 0 {
		s.cmdTimeout = DefaultCommandTimeout
	}
	return s, nil
}

// Scan streams r to clamd and applies the fail-closed verdict policy:
// only "stream: OK" is clean; a signature is infected; the limit and
// encryption heuristics and clamd's stream size limit are unscannable;
// everything else is an error wrapping scan.ErrUnavailable (or ctx.Err()
// when the caller cancelled). The verdict carries the engine version,
// asked for before and after the stream (scan.Stamp): a signature reload
// during the scan makes the verdict one that is never reused.
func (s *Scanner) Scan(ctx context.Context, r io.Reader) (scan.Verdict, error) {
	before, err := s.Version(ctx)
	if err != nil {
		return scan.Verdict{}, fmt.Errorf("clamd: version before the scan: %w", err)
	}
	reply, err := s.instream(ctx, r)
	if err != nil {
		return scan.Verdict{}, err
	}
	v, err := verdictFor(reply, s.now())
	if err != nil {
		return scan.Verdict{}, err
	}
	after, err := s.Version(ctx)
	if err != nil {
		return scan.Verdict{}, fmt.Errorf("clamd: version after the scan: %w", err)
	}
	return scan.Stamp(v, before, after), nil
}

// Ping returns nil when clamd answers PONG.
func (s *Scanner) Ping(ctx context.Context) error {
	_, err := command(ctx, s, func(ctx context.Context, c *baruwa.Client) (struct{}, error) {
		ok, err := c.Ping(ctx)
		if err == nil && !ok {
			err = errors.New("no PONG")
		}
		return struct{}{}, err
	})
	return err
}

// Version asks clamd for its engine and signature versions.
func (s *Scanner) Version(ctx context.Context) (scan.EngineVersion, error) {
	reply, err := command(ctx, s, func(ctx context.Context, c *baruwa.Client) (string, error) {
		return c.Version(ctx)
	})
	if err != nil {
		return scan.EngineVersion{}, err
	}
	return parseVersion(reply)
}

func (s *Scanner) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: s.dialTimeout}
	conn, err := d.DialContext(ctx, s.network, s.address)
	if err != nil {
		return nil, s.connErr(ctx, err)
	}
	return conn, nil
}

// command runs one control command through the library with timeouts
// from ctx, and returns when ctx ends even if the library does not
// (defect (d)); the abandoned call ends by its own timeout.
func command[T any](ctx context.Context, s *Scanner, fn func(context.Context, *baruwa.Client) (T, error)) (T, error) {
	var zero T
	timeout := s.cmdTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if timeout <= 0 || ctx.Err() != nil {
		return zero, s.connErr(ctx, context.DeadlineExceeded)
	}
	// NewClient stats a unix socket path: a missing socket is "clamd down".
	c, err := baruwa.NewClient(s.network, s.address)
	if err != nil {
		return zero, fmt.Errorf("%w: clamd %s: %w", scan.ErrUnavailable, s.address, err)
	}
	c.SetConnTimeout(min(s.dialTimeout, timeout))
	c.SetCmdTimeout(timeout)
	c.SetConnRetries(0)

	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn(ctx, c)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return zero, s.connErr(ctx, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		return zero, s.connErr(ctx, ctx.Err())
	}
}
