package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyUser
	keyServer
	// keyAnonymous marks a request admitted without a token (anonymous.go);
	// its value is the client address.
	keyAnonymous
	// keyGuest marks a guest's request (whoami's is_guest).
	keyGuest
)

// requestID returns the request's ID ("" outside a request).
func requestID(ctx context.Context) string {
	s, _ := ctx.Value(keyRequestID).(string)
	return s
}

// userID returns the authenticated user of the request.
func userID(ctx context.Context) string {
	s, _ := ctx.Value(keyUser).(string)
	return s
}

// statusWriter records the status for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// httpMetrics counts requests by route and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mediarepo_http_request_duration_seconds", Help: "HTTP request duration by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// observe wraps a route's handler with request IDs, logging and metrics.
func (a *API) observe(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			var b [8]byte
			_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), keyRequestID, id)))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		a.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		a.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		a.log.Debug("request", "request_id", id, "route", route, "method", r.Method,
			"status", sw.status, "bytes", sw.bytes, "duration", time.Since(start))
	})
}

// errTooSlow is returned by a request body that arrives slower than the
// configured minimum rate.
var errTooSlow = errors.New("request body too slow")

// errBodyCut: the client's request body ended before its declared length
// or its connection failed while it was read (400, not a server error).
var errBodyCut = errors.New("request body cut off")

// minRateBody cuts off a request body whose average rate after a grace
// period falls below min bytes/s, and bounds each read's wait, so a slow
// client cannot hold a connection and an upload slot forever. It also
// remembers the first read error, so that a handler whose upload failed
// can tell a body the client cut (bodyError) from a fault of its own,
// whatever the storage layer made of the read error.
type minRateBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	min   int64
	grace time.Duration
	start time.Time
	n     int64
	err   error
}

// bodyError returns err, or errBodyCut when the upload failed because
// reading body did (not for a body too slow: errTooSlow is its own answer).
func bodyError(body io.Reader, err error) error {
	b, ok := body.(*minRateBody)
	if !ok || b.err == nil || errors.Is(b.err, errTooSlow) || errors.Is(err, errTooSlow) {
		return err
	}
	return fmt.Errorf("%w after %d bytes (%w): %w", errBodyCut, b.n, b.err, err)
}

func (b *minRateBody) Read(p []byte) (int, error) {
	if b.min > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.grace)) // unsupported writers simply keep no deadline
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w: no bytes for %s", errTooSlow, b.grace)
	}
	if el := time.Since(b.start); b.min > 0 && el > b.grace && float64(b.n) < float64(b.min)*el.Seconds() {
		err = fmt.Errorf("%w: %d bytes in %s", errTooSlow, b.n, el.Round(time.Second))
	}
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}
