// Package queue is the scan-job queue of design §5: a JetStream
// work-queue stream with one durable pull consumer shared by all scan
// workers. Jobs name media by origin, ID and record revision; they never
// carry keys or secrets (an E2EE scan with a client key does not go
// through this stream at all, design §2a).
//
// # Delivery rules
//
// The consumer acknowledges explicitly. A worker Acks only after the
// verdict is stored, sends InProgress during long scans (more often than
// AckWait), NakWithDelay on transient trouble (clamd down), and Term for a
// job that can never succeed. After Options.MaxDeliver deliveries the
// server stops redelivering but a work-queue stream keeps the message:
// on its last delivery (Delivery.Last) the worker stores the "scan failed"
// block and then Acks, which removes it. A worker that dies mid-job loses
// nothing: the job is redelivered to another worker after AckWait.
//
// # Durability
//
// The stream uses file storage and Options.Replicas replicas (1 embedded,
// 3 in a cluster). As for the catalog, run the servers with
// `sync_interval: always` (or a short interval): with the default 2-minute
// fsync, Jepsen's NATS 2.12 analysis lost acknowledged writes, which here
// would be a lost scan job (the reconciler re-enqueues pending media, so a
// lost job delays a verdict but never makes media servable).
package queue

import (
	"fmt"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Job is one scan job. The worker trusts the catalog record, not the job:
// Revision, BlobKey and SHA256 are for de-duplication, logs and checks.
type Job struct {
	Origin  string `json:"origin"`
	MediaID string `json:"media_id"`
	// Revision is the catalog revision of the pending record the job was
	// published for; with the media it forms the Nats-Msg-Id.
	Revision uint64 `json:"revision"`
	BlobKey  string `json:"blob_key,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Size     int64  `json:"size,omitempty"`
	// Reason says why the job was published: "upload", "rescan",
	// "reconcile" (free text for logs and metrics).
	Reason     string    `json:"reason,omitempty"`
	EnqueuedAt time.Time `json:"enqueued_at"`
}

// JobFor returns the job for a pending record stored at revision rev.
func JobFor(rec media.Record, rev uint64, reason string, now time.Time) Job {
	return Job{
		Origin: rec.Origin, MediaID: rec.ID, Revision: rev,
		BlobKey: rec.BlobKey, SHA256: rec.SHA256, Size: rec.Size,
		Reason: reason, EnqueuedAt: now,
	}
}

// MsgID returns the Nats-Msg-Id: the media and the record revision, so a
// duplicate publish of the same revision is dropped within the duplicate
// window while a rescan (a new revision) always gets through.
func (j Job) MsgID() string {
	return fmt.Sprintf("%s/%s/%d", j.Origin, j.MediaID, j.Revision)
}

// validate checks that the job names media and a revision.
func (j Job) validate() error {
	if err := media.ValidateServerName(j.Origin); err != nil {
		return err
	}
	if err := media.ValidateMediaID(j.MediaID); err != nil {
		return err
	}
	if j.Revision == 0 {
		return fmt.Errorf("%w: job for %s without a record revision", media.ErrInvalidID, media.MXC(j.Origin, j.MediaID))
	}
	return nil
}
