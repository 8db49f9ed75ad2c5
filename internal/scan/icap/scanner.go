// Package icap is the ICAP (RFC 3507) backend of scan.Scanner: it sends
// content to an ICAP antivirus service (c-icap with its virus_scan module
// in front of clamd, or a commercial engine: Kaspersky Scan Engine, OPSWAT
// MetaDefender, Trend Micro, Trellix, Fortinet) as the body of a RESPMOD
// (or REQMOD) request, streamed in chunks with a preview, and reads the
// verdict from the answer's status and headers.
//
// The client is written here, on net and net/textproto: no maintained Go
// ICAP client library exists (the few on GitHub are servers, or clients
// that buffer the whole body in memory and treat any 200 as clean), and a
// scanner must stream, bound every wait by ctx and fail closed.
//
// Fail closed: only a 204, or a 200 whose encapsulated response is the
// unmodified content, is clean — and only when the service received the
// whole content. Infection headers, an ICAP 403 or a changed answer
// (a blocked page) are infected; 5xx (506 "too busy" included), timeouts,
// protocol errors and answers that are not understood wrap
// scan.ErrUnavailable.
package icap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mediarepo/mediarepo/internal/scan"
)

// Defaults for Config's zero values.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultCommandTimeout = 10 * time.Second
	DefaultOptionsTTL     = time.Minute
	DefaultIdleTimeout    = 30 * time.Second
	DefaultMaxConnections = 16
	DefaultChunkSize      = 64 << 10
	maxPreview            = 32 << 10
)

// DefaultInfectionHeaders are the answer headers that report a finding,
// in the order they are consulted for the signature name: c-icap
// (X-Infection-Found, X-Violations-Found), Kaspersky, McAfee/Trellix and
// others (X-Virus-ID), and a few vendors' variants.
var DefaultInfectionHeaders = []string{"X-Infection-Found", "X-Violations-Found", "X-Virus-ID", "X-Virus-Name", "X-Blocked-Reason"}

// DefaultUnscannablePrefixes are signature names that report content the
// engine could not judge (ClamAV's AlertEncrypted and AlertExceedsMax
// heuristics, as passed through by c-icap): unscannable, not infected.
var DefaultUnscannablePrefixes = []string{"Heuristics.Encrypted", "Heuristics.Limits.Exceeded"}

// Method is the ICAP method a scan uses.
type Method string

// The ICAP methods a scan may use.
const (
	RESPMOD Method = "RESPMOD"
	REQMOD  Method = "REQMOD"
)

// Config configures a Scanner.
type Config struct {
	// URL is the service, "icap://host:port/service" (port 1344 when
	// omitted) or "icaps://host:port/service" (TLS, port 11344).
	URL string
	// Method is RESPMOD (default) or REQMOD.
	Method Method
	// Preview is the preview size in bytes: 0 takes the service's
	// Preview from OPTIONS, a negative value sends no preview.
	Preview int
	// InfectionHeaders overrides DefaultInfectionHeaders.
	InfectionHeaders []string
	// UnscannablePrefixes overrides DefaultUnscannablePrefixes.
	UnscannablePrefixes []string
	// MaxSize, when positive, is the largest content sent: larger content
	// is unscannable without a verdict from the service (many services pass
	// what is over their own limit unscanned; set it to that limit).
	MaxSize int64
	// MaxConnections caps concurrent connections (default 16; lowered to
	// the service's Max-Connections).
	MaxConnections int
	// DialTimeout bounds connecting (default 5 s).
	DialTimeout time.Duration
	// CommandTimeout bounds OPTIONS when ctx has no earlier deadline
	// (default 10 s). Scans are bounded by ctx only.
	CommandTimeout time.Duration
	// OptionsTTL is how long an OPTIONS answer is used before it is asked
	// again (default 1 min, or the service's shorter Options-TTL).
	OptionsTTL time.Duration
	// IdleTimeout is how long an idle connection is kept for reuse
	// (default 30 s; keep it below the service's keep-alive timeout).
	IdleTimeout time.Duration
	// TLS is the client configuration for icaps:// (nil: system roots).
	TLS *tls.Config
}

// Scanner is a scan.Scanner backed by an ICAP service. It reuses idle
// connections and is safe for concurrent use.
type Scanner struct {
	cfg        Config
	host       string // host:port for dialing and the Host header
	uri        string // the request URI, icap://host:port/service
	useTLS     bool
	headers    []string
	unscanable []string
	now        func() time.Time

	optMu     sync.Mutex
	opt       options
	optAt     time.Time
	slotsOnce sync.Once
	slots     chan struct{}

	pool *pool
}

var _ scan.Scanner = (*Scanner)(nil)

// New returns a Scanner for cfg. It does not connect; Ping sends OPTIONS.
func New(cfg Config) (*Scanner, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("icap url %q: %w", cfg.URL, err)
	}
	s := &Scanner{cfg: cfg, now: time.Now}
	port := "1344"
	switch u.Scheme {
	case "icap":
	case "icaps":
		s.useTLS, port = true, "11344"
	default:
		return nil, fmt.Errorf("icap url %q: scheme must be icap or icaps", cfg.URL)
	}
	if u.Hostname() == "" || u.User != nil || u.RawQuery != "" && strings.ContainsAny(u.RawQuery, " \r\n") || u.Fragment != "" {
		return nil, fmt.Errorf("icap url %q: want icap://host[:port]/service", cfg.URL)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	if strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("icap url %q: the service path is missing", cfg.URL)
	}
	s.host = net.JoinHostPort(u.Hostname(), port)
	s.uri = u.Scheme + "://" + s.host + u.EscapedPath()
	if u.RawQuery != "" {
		s.uri += "?" + u.RawQuery
	}
	switch cfg.Method {
	case "":
		s.cfg.Method = RESPMOD
	case RESPMOD, REQMOD:
	default:
		return nil, fmt.Errorf("icap method %q: want RESPMOD or REQMOD", cfg.Method)
	}
	s.headers = cfg.InfectionHeaders
	if len(s.headers) == 0 {
		s.headers = DefaultInfectionHeaders
	}
	s.unscanable = cfg.UnscannablePrefixes
	if cfg.UnscannablePrefixes == nil {
		s.unscanable = DefaultUnscannablePrefixes
	}
	if s.cfg.MaxConnections <= 0 {
		s.cfg.MaxConnections = DefaultMaxConnections
	}
	if s.cfg.DialTimeout <= 0 {
		s.cfg.DialTimeout = DefaultDialTimeout
	}
	if s.cfg.CommandTimeout <= 0 {
		s.cfg.CommandTimeout = DefaultCommandTimeout
	}
	if s.cfg.OptionsTTL <= 0 {
		s.cfg.OptionsTTL = DefaultOptionsTTL
	}
	if s.cfg.IdleTimeout <= 0 {
		s.cfg.IdleTimeout = DefaultIdleTimeout
	}
	s.pool = newPool(s.cfg.MaxConnections, s.cfg.IdleTimeout)
	return s, nil
}

// Scan sends r to the service and returns its verdict (see the package
// comment for the policy). The verdict's SignatureVersion is the ISTag of
// the answer itself: the service's state that made this verdict.
func (s *Scanner) Scan(ctx context.Context, r io.Reader) (scan.Verdict, error) {
	opt, err := s.options(ctx)
	if err != nil {
		return scan.Verdict{}, err
	}
	if err := s.acquire(ctx, opt); err != nil {
		return scan.Verdict{}, err
	}
	defer s.release()
	v, err := s.scan(ctx, opt, r)
	if err != nil {
		return scan.Verdict{}, s.wrap(ctx, err)
	}
	v.ScannedAt = s.now()
	return v, nil
}

// Ping returns nil when the service answers OPTIONS with 200 and offers
// the configured method.
func (s *Scanner) Ping(ctx context.Context) error {
	_, err := s.fetchOptions(ctx)
	return err
}

// Version sends OPTIONS and reports the service (Service header) as the
// engine and its ISTag as the signature version: RFC 3507 changes the
// ISTag whenever the service's answers may change, for example after a
// signature update.
func (s *Scanner) Version(ctx context.Context) (scan.EngineVersion, error) {
	opt, err := s.fetchOptions(ctx)
	if err != nil {
		return scan.EngineVersion{}, err
	}
	return opt.version(), nil
}

// Close closes the idle connections.
func (s *Scanner) Close() error {
	s.pool.closeIdle()
	return nil
}

// acquire takes a connection slot, sized once from the first OPTIONS
// (the lower of MaxConnections and the service's Max-Connections).
func (s *Scanner) acquire(ctx context.Context, opt options) error {
	s.slotsOnce.Do(func() {
		n := s.cfg.MaxConnections
		if opt.maxConnections > 0 && opt.maxConnections < n {
			n = opt.maxConnections
		}
		s.slots = make(chan struct{}, n)
	})
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return s.wrap(ctx, ctx.Err())
	}
}

func (s *Scanner) release() { <-s.slots }

// dial opens a new connection (TLS for icaps://).
func (s *Scanner) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: s.cfg.DialTimeout}
	if !s.useTLS {
		return d.DialContext(ctx, "tcp", s.host)
	}
	cfg := s.cfg.TLS.Clone()
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(s.host)
		cfg.ServerName = host
	}
	td := tls.Dialer{NetDialer: &d, Config: cfg}
	return td.DialContext(ctx, "tcp", s.host)
}

// wrap makes err an ErrUnavailable (unless it is the reader's error or
// already one) and keeps ctx's error visible to errors.Is.
func (s *Scanner) wrap(ctx context.Context, err error) error {
	var rerr *readerError
	if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
		// Connection deadlines come from ctx's deadline, which fires a
		// moment after the connection's.
		err = fmt.Errorf("%w: %w", err, context.DeadlineExceeded)
	}
	switch {
	case errors.As(err, &rerr):
		return rerr.err
	case errors.Is(err, scan.ErrUnavailable):
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return fmt.Errorf("%w: %w", err, ctx.Err())
		}
		return err
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		return fmt.Errorf("%w: icap %s: %w: %w", scan.ErrUnavailable, s.host, err, ctx.Err())
	}
	return fmt.Errorf("%w: icap %s: %w", scan.ErrUnavailable, s.host, err)
}

// readerError marks an error of the caller's reader: returned as it is.
type readerError struct{ err error }

func (e *readerError) Error() string { return "reading the content: " + e.err.Error() }
func (e *readerError) Unwrap() error { return e.err }
