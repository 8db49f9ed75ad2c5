package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/scan"
)

// ScanEncrypted scans the plaintext of an encrypted attachment with the
// client's key f (the content-scanner API, design §2a). The ciphertext
// hash in f must match the record's SHA-256 (checked before any byte is
// read); the sealed blob is read through the same ReaderAt as job scans,
// decrypted by position, so the archive inspection sees the plaintext too.
// It stores nothing and never sees the key outside this call: the caller
// keeps the verdict under the key's digest. Errors: e2ee sentinels for a
// wrong hash or key, scan.ErrUnavailable (wrapped) for transient trouble.
func (w *Worker) ScanEncrypted(ctx context.Context, rec media.Record, f e2ee.EncryptedFile) (media.Verdict, error) {
	if err := e2ee.VerifyCiphertextHash(rec.SHA256, f); err != nil {
		return media.Verdict{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, w.opts.ScanTimeout)
	defer cancel()
	ra := newBlobReaderAt(sctx, w.blobs, rec.BlobKey, rec.Size)
	defer ra.Close()
	plain, err := e2ee.NewDecryptReaderAt(ra, rec.Size, f)
	if err != nil {
		return media.Verdict{}, err
	}
	sv, err := w.scanAt(sctx, plain, rec.Size)
	switch {
	case err == nil:
	case errors.Is(err, e2ee.ErrFailedToDecrypt), errors.Is(err, scan.ErrUnavailable), ctx.Err() != nil:
		return media.Verdict{}, err
	case errors.Is(err, context.DeadlineExceeded):
		return media.Verdict{}, fmt.Errorf("%w: scan timed out after %s: %w", scan.ErrUnavailable, w.opts.ScanTimeout, err)
	default:
		return media.Verdict{}, fmt.Errorf("%w: %w", errStorage, err)
	}
	switch {
	case ra.Covered():
		if err := ra.Verify(rec.SHA256); err != nil {
			return media.Verdict{}, err
		}
	case sv.Result == scan.ResultClean:
		return media.Verdict{}, fmt.Errorf("%w: clean answer before the whole blob was read", scan.ErrUnavailable)
	}
	w.metrics.verdicts.WithLabelValues(string(mediaVerdict(sv).Result), "encrypted").Inc()
	return mediaVerdict(sv), nil
}
