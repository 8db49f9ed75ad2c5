package service

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/media"
)

// KeyScanner scans the plaintext of encrypted media with a client's key:
// in-process (worker.Worker.ScanEncrypted) or by request/reply to the scan
// workers. It stores nothing; the key lives only for the call.
type KeyScanner interface {
	ScanEncrypted(ctx context.Context, rec media.Record, f e2ee.EncryptedFile) (media.Verdict, error)
}

// EncryptedCatalog is what the encrypted checks need of the catalog: the
// per-key verdicts, and records and blob records to quarantine with.
type EncryptedCatalog interface {
	catalog.KeyVerdicts
	catalog.Records
	ModifyBlob(ctx context.Context, sha256 string, fn func(*media.Blob) error) (media.Blob, uint64, error)
}

// Encrypted checks encrypted attachments for the content-scanner API.
type Encrypted struct {
	svc     *Service
	cat     EncryptedCatalog
	scanner KeyScanner
	flight  singleflight.Group
}

// NewEncrypted returns the encrypted-attachment checks over s.
func NewEncrypted(s *Service, cat EncryptedCatalog, scanner KeyScanner) *Encrypted {
	return &Encrypted{svc: s, cat: cat, scanner: scanner}
}

// Check returns the record and the verdict of its plaintext under the key
// in f (design §2a). The record must exist, its stored bytes must be
// clean (waiting up to wait like a download) and f's ciphertext hash must
// match them before anything is decrypted. A verdict kept for the same
// key digest is reused; concurrent checks of the same item share one
// scan. An infected plaintext quarantines the record for everyone and
// blocks its hash. The plaintext's sniffed type goes through the type
// policy like an upload's (media.ErrTypeForbidden), on every check, so a
// policy change applies at once. The caller has authenticated the request
// (or admitted it anonymously); requester names who asked ("@user:server"
// or "anonymous 192.0.2.1") in the record's history when a verdict
// quarantines it.
func (e *Encrypted) Check(ctx context.Context, origin, id string, f e2ee.EncryptedFile, wait time.Duration, requester string) (media.Record, media.Verdict, error) {
	rec, err := e.svc.awaitClean(ctx, origin, id, wait)
	if err != nil {
		return media.Record{}, media.Verdict{}, err
	}
	if err := e2ee.VerifyCiphertextHash(rec.SHA256, f); err != nil {
		return media.Record{}, media.Verdict{}, err
	}
	if err := e.checkPlaintextType(ctx, rec, f); err != nil {
		return media.Record{}, media.Verdict{}, err
	}
	digest := f.KeyDigest()
	if v, err := e.cat.GetKeyVerdict(ctx, origin, id, digest); err == nil {
		return rec, v, nil
	} else if !errors.Is(err, media.ErrNotFound) {
		return media.Record{}, media.Verdict{}, err
	}
	flightKey := rec.MXC() + "/" + hex.EncodeToString(digest[:])
	res, err, _ := e.flight.Do(flightKey, func() (any, error) {
		// Detached from the first caller's cancellation: the others wait too.
		sctx := context.WithoutCancel(ctx)
		v, err := e.scanner.ScanEncrypted(sctx, rec, f)
		if err != nil {
			return media.Verdict{}, err
		}
		if err := e.cat.PutKeyVerdict(sctx, origin, id, digest, v); err != nil {
			return media.Verdict{}, err
		}
		if v.Result == media.ResultInfected {
			e.quarantine(sctx, rec, v, requester)
		}
		return v, nil
	})
	if err != nil {
		return media.Record{}, media.Verdict{}, err
	}
	return rec, res.(media.Verdict), nil
}

// quarantine applies an infected per-key verdict to the record for
// everyone and blocks the ciphertext hash: only the uploader can craft a
// key that turns the ciphertext into malware.
func (e *Encrypted) quarantine(ctx context.Context, rec media.Record, v media.Verdict, requester string) {
	reason := fmt.Sprintf("plaintext infected under a client key (checked for %s): %s", requester, v.Signature)
	_, _, err := catalog.Apply(ctx, e.cat, rec.Origin, rec.ID, media.Change{
		Transition: media.Quarantine, At: e.svc.now(), Actor: "content-scanner", Reason: reason})
	if err != nil && !errors.Is(err, media.ErrInvalidTransition) {
		e.svc.log.Error("quarantining media infected under a client key failed", "media", rec.MXC(), "err", err)
	}
	_, _, err = e.cat.ModifyBlob(ctx, rec.SHA256, func(b *media.Blob) error {
		*b = b.Block(reason, e.svc.now())
		return nil
	})
	if err != nil {
		e.svc.log.Error("blocking the hash of media infected under a client key failed", "media", rec.MXC(), "err", err)
	}
	e.svc.log.Warn("encrypted media infected under a client key: quarantined", "media", rec.MXC(),
		"signature", v.Signature, "requester", requester)
}

// checkPlaintextType decrypts the first bytes of rec under f, sniffs them
// like an upload's and applies the type policy (the Python scanner blocks
// by the plaintext's type too). Nothing decrypted is kept.
func (e *Encrypted) checkPlaintextType(ctx context.Context, rec media.Record, f e2ee.EncryptedFile) error {
	n := min(rec.Size, sniffLen)
	rc, err := e.svc.Open(ctx, rec, 0, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	// Exactly n bytes: the reader checks the ciphertext hash only at the
	// end of the whole file, which a prefix never reaches.
	head := make([]byte, n)
	if _, err := io.ReadFull(e2ee.NewDecryptReader(rc, f), head); err != nil {
		return fmt.Errorf("reading the plaintext's first bytes: %w", err)
	}
	if t := sniff(head); e.svc.policy.Blocked(t) {
		return fmt.Errorf("%w: the plaintext sniffed as %s", media.ErrTypeForbidden, t)
	}
	return nil
}
