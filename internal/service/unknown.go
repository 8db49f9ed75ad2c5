package service

import (
	"context"
	"errors"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// settleUnknownFor is how long an upload whose record write's outcome is
// unknown keeps asking the catalog; settleUnknownFirst is the first delay
// between reads (doubling to 8 s).
const (
	settleUnknownFor   = 2 * time.Minute
	settleUnknownFirst = 250 * time.Millisecond
)

// settleUnknown resolves, in the background, an upload whose record write
// may or may not have happened (catalog.ErrOutcomeUnknown: the catalog's
// connection was lost during the commit, as when its PostgreSQL is
// killed). It reads the record once the catalog answers again: a record
// naming the upload's blob was written, and keeps it; otherwise the blob
// is deleted, then its intent. Deleting at once could leave a written
// record without its blob; leaving it to the collector could leave an
// orphan, since PostgreSQL commits the intent asynchronously and a crash
// may lose it. If the catalog stays away for settleUnknownFor, the
// intent (when it survived) is the collector's.
func (s *Service) settleUnknown(ctx context.Context, origin, id, own string, cause error) {
	s.log.Warn("an upload's record may or may not have been written; reading it back once the catalog answers",
		"media", media.MXC(origin, id), "key", own, "err", cause)
	go func() {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleUnknownFor)
		defer cancel()
		delay := settleUnknownFirst
		for {
			rec, _, err := s.catalog.Get(bctx, origin, id)
			switch {
			case err == nil && rec.BlobKey == own:
				s.log.Info("the upload's record had been written; its blob stays", "media", media.MXC(origin, id), "key", own)
				return
			case err == nil || errors.Is(err, media.ErrNotFound):
				s.discardBlob(bctx, own)
				s.log.Info("the upload's record had not been written; its blob is removed", "media", media.MXC(origin, id), "key", own)
				return
			}
			select {
			case <-bctx.Done():
				s.log.Warn("the catalog did not answer; the upload's intent, if it survived, is the collector's",
					"media", media.MXC(origin, id), "key", own, "err", err)
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 8*time.Second)
		}
	}()
}
