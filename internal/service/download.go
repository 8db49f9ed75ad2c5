package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Download returns the record of media servable without a key: clean,
// and not refused by the opaque-content policy (ErrOpaque). Media still
// reserved or being scanned is waited for up to wait, then
// ErrNotYetUploaded; quarantined or blocked media is ErrNotClean (or
// ErrTypeForbidden); deleted, expired and unknown media is ErrNotFound.
func (s *Service) Download(ctx context.Context, origin, id string, wait time.Duration) (media.Record, error) {
	rec, err := s.awaitClean(ctx, origin, id, wait)
	if err != nil {
		return media.Record{}, err
	}
	if s.opts.RefuseOpaque {
		checked, err := s.withTypeCheck(ctx, rec)
		if err != nil {
			return media.Record{}, err
		}
		if Opaque(checked) {
			return media.Record{}, &NotServedError{Record: rec, Err: ErrOpaque}
		}
	}
	return rec, nil
}

// withTypeCheck returns rec with its TypeCheck, reading the first bytes
// of media uploaded before the check existed (one ranged read per
// download of such media).
func (s *Service) withTypeCheck(ctx context.Context, rec media.Record) (media.Record, error) {
	if rec.TypeCheck != "" || rec.SniffedType == "" || rec.Size == 0 {
		return rec, nil
	}
	rc, err := s.blobs.Get(ctx, rec.BlobKey, 0, min(rec.Size, checkLen))
	if err != nil {
		return rec, fmt.Errorf("reading the first bytes of %s: %w", rec.MXC(), err)
	}
	defer rc.Close()
	head, err := io.ReadAll(io.LimitReader(rc, checkLen))
	if err != nil {
		return rec, fmt.Errorf("reading the first bytes of %s: %w", rec.MXC(), err)
	}
	rec.TypeCheck = typeCheck(head, rec.SniffedType)
	return rec, nil
}

// Lookup returns the stored record of origin/id as it is: no federation
// fetch, no wait, no judgement of its state (ErrNotFound when there is
// none). It is the cheap check that comes before any costly work.
func (s *Service) Lookup(ctx context.Context, origin, id string) (media.Record, error) {
	if err := media.ValidateServerName(origin); err != nil {
		return media.Record{}, err
	}
	if err := media.ValidateMediaID(id); err != nil {
		return media.Record{}, err
	}
	rec, _, err := s.catalog.Get(ctx, origin, id)
	return rec, err
}

// awaitClean returns the record once its stored bytes are clean, waiting
// up to wait for a verdict; otherwise the error of its state.
func (s *Service) awaitClean(ctx context.Context, origin, id string, wait time.Duration) (media.Record, error) {
	if err := media.ValidateServerName(origin); err != nil {
		return media.Record{}, err
	}
	if err := media.ValidateMediaID(id); err != nil {
		return media.Record{}, err
	}
	rec, _, err := s.catalog.Get(ctx, origin, id)
	if errors.Is(err, media.ErrNotFound) && s.isRemote(origin) {
		rec, err = s.fetchRemote(ctx, origin, id) // remote.go: fetch over federation, store, queue the scan
	}
	if err != nil {
		return media.Record{}, err
	}
	if errors.Is(rec.ServeError(), media.ErrNotYetUploaded) && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		got, werr := s.catalog.WaitFor(wctx, origin, id, decided)
		cancel()
		switch {
		case werr == nil:
			rec = got
		case ctx.Err() != nil:
			return media.Record{}, ctx.Err()
		case !errors.Is(werr, context.DeadlineExceeded):
			return media.Record{}, werr
		}
	}
	if rec.State == media.StateReserved && !s.now().Before(rec.ExpiresAt) {
		return media.Record{}, media.ErrExpired
	}
	if err := rec.ServeError(); err != nil {
		return media.Record{}, &NotServedError{Record: rec, Err: err}
	}
	return rec, nil
}

// NotServedError says why existing media is not served, with its record
// (for answers that word the verdict). It wraps the media sentinel.
type NotServedError struct {
	Record media.Record
	Err    error
}

// Error names the media and the reason.
func (e *NotServedError) Error() string { return e.Record.MXC() + ": " + e.Err.Error() }

// Unwrap returns the media sentinel.
func (e *NotServedError) Unwrap() error { return e.Err }

// ErrOpaque refuses content that looks encrypted on the endpoints that
// serve without a key (media.opaque_content: refuse). It wraps
// media.ErrNotClean: the scan of ciphertext proves nothing.
var ErrOpaque = fmt.Errorf("%w: the content looks encrypted (unknown type, random bytes); it is served only through the content scanner with its key", media.ErrNotClean)

// Opaque reports whether content looks like ciphertext: no type whose
// structure checked out in its first bytes (a magic-number match alone
// does not count, typecheck.go) and an entropy of at least 90 % of what
// random bytes of the same length show on average (randomEntropy).
// Records without a TypeCheck (uploaded before it) are judged by their
// sniffed type; Download checks them first.
func Opaque(rec media.Record) bool {
	if rec.Size == 0 || rec.SniffedType != "" && rec.TypeCheck != media.TypeCheckMagic {
		return false
	}
	return rec.Entropy >= 0.9*randomEntropy(int(min(rec.Size, sniffLen)))
}

// randomEntropy is the expected value of the entropy estimate (entropy)
// over n uniformly random bytes. The estimate falls short of 8 bits for
// short input, and not only below 256 bytes: 256 random bytes give 7.18
// on average, 1 KiB 7.81, 8 KiB 7.98. A threshold on log2(n) capped at 8
// let two in three random 256-byte blobs pass as not encrypted. With c,
// the count of one byte value, Binomial(n, 1/256):
// E[H] = -256 · Σ_c P(c) · (c/n) · log2(c/n). 1.4 µs at 8 KiB here (a
// hundred terms, each probability from the one before).
func randomEntropy(n int) float64 {
	if n <= 1 {
		return 0
	}
	const p = 1.0 / 256
	nf := float64(n)
	mean := nf * p
	last := min(n, int(mean+10*math.Sqrt(mean)+10)) // beyond it P(c) < 1e-15
	prob := math.Exp(nf * math.Log1p(-p))           // P(0)
	var sum float64
	for c := 1; c <= last; c++ {
		cf := float64(c)
		prob *= (nf - cf + 1) / cf * p / (1 - p)
		sum += prob * cf / nf * math.Log2(cf/nf)
	}
	return -256 * sum
}

// Open streams length plaintext bytes from offset (length -1: to the end)
// of servable media. It refuses anything that is not clean or whose blob
// is not under MediaPrefix (quarantine is never read here). The caller
// closes the reader.
func (s *Service) Open(ctx context.Context, rec media.Record, offset, length int64) (io.ReadCloser, error) {
	if err := rec.ServeError(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(rec.BlobKey, MediaPrefix) {
		return nil, fmt.Errorf("%w: blob %s is outside the servable prefix", media.ErrNotClean, rec.BlobKey)
	}
	if offset == 0 && length >= rec.Size {
		length = -1 // a whole-blob read is one backend request (a range needs a Stat too)
	}
	rc, err := s.blobs.Get(ctx, rec.BlobKey, offset, length)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", rec.MXC(), err)
	}
	n := rec.Size - offset
	if length >= 0 && length < n {
		n = length
	}
	s.metrics.downloadBytes.Add(float64(max(0, n)))
	return rc, nil
}

// Peers is the media view served to other servers over federation: clean
// media only, but without the opaque-content policy. Encrypted attachments
// must reach the peer homeserver as ciphertext, where its own content
// scanner checks them with the client's key and its own policy applies.
type Peers struct{ s *Service }

// ForPeers returns the federation view of the media.
func (s *Service) ForPeers() Peers { return Peers{s: s} }

// Download returns the record of clean media, waiting up to wait.
func (p Peers) Download(ctx context.Context, origin, id string, wait time.Duration) (media.Record, error) {
	return p.s.awaitClean(ctx, origin, id, wait)
}

// Open streams the content of clean media (see Service.Open).
func (p Peers) Open(ctx context.Context, rec media.Record, offset, length int64) (io.ReadCloser, error) {
	return p.s.Open(ctx, rec, offset, length)
}
