package faults_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/app"
	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// verdictBound is how long after the load every acknowledged upload must
// have its verdict.
const verdictBound = 2 * time.Minute

// latencies are verdict latencies' percentiles.
type latencies struct{ p50, p99 time.Duration }

// runResult holds one run's figures.
type runResult struct {
	run             int
	sync            string        // sync_interval (power-loss runs)
	age             time.Duration // how long the cluster ran before the load (power-loss runs)
	acked, lost     int
	ackedIDs        map[string]bool
	requeued        int // acknowledged uploads whose job the reconciler published again
	probeAcked      int // probe messages acknowledged (power-loss runs)
	probeLost       int // of those, gone after the power loss
	infectious      int64
	outside, during latencies
	statuses        map[string]int64
}

// checkInvariants waits for every verdict and checks what the issue lists:
// a record for every acknowledged upload, a verdict within the bound,
// clean uploads served byte for byte and EICAR quarantined, no blob missing,
// no orphan blob after the grace period, no job left in the stream, the
// audit stream intact, and no infected byte ever served.
func checkInvariants(t *testing.T, c *cluster, l *load, plan []*fault, began time.Time) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), verdictBound+time.Minute)
	defer cancel()
	items := l.acknowledged()
	res := runResult{acked: len(items), statuses: map[string]int64{}, ackedIDs: map[string]bool{}}
	for _, it := range items {
		res.ackedIDs[it.mediaID] = true
	}

	// Every acknowledged upload reaches a verdict within the bound and is
	// served as it must be.
	deadline := time.Now().Add(verdictBound)
	for _, it := range items {
		for {
			status := l.download(ctx, it, 10*time.Second)
			if status == http.StatusOK || status == http.StatusForbidden || status == http.StatusNotFound || time.Now().After(deadline) {
				break
			}
		}
	}

	cat, js, bucket := openCluster(t, c)
	recs := map[string]media.Record{}
	for _, it := range items {
		rec, _, err := cat.Get(ctx, "localhost", it.mediaID)
		switch {
		case errors.Is(err, media.ErrNotFound):
			res.lost++
			t.Errorf("upload %s was answered 200 at %s but has no record", it.mediaID, it.acked.Sub(began).Round(time.Millisecond))
			continue
		case err != nil:
			t.Fatalf("catalog get %s: %v", it.mediaID, err)
		}
		recs[it.mediaID] = rec
		want := media.StateClean
		if it.infected {
			want = media.StateQuarantined
		}
		if rec.State != want {
			t.Errorf("%s (infected %v) ended %s (verdict %+v), want %s", it.mediaID, it.infected, rec.State, rec.Verdict, want)
		}
		it.mu.Lock()
		if it.badBytes {
			t.Errorf("%s was served with other bytes than were uploaded", it.mediaID)
		}
		if rec.State == want && it.decided.IsZero() {
			t.Errorf("%s ended %s but no download saw its verdict within %s", it.mediaID, rec.State, verdictBound)
		}
		it.mu.Unlock()
	}
	if n := l.infectious.Load(); n > 0 {
		res.infectious = n
		t.Errorf("%d bytes of infected uploads were served", n)
	}
	if n := l.noRetry.Load(); n > 0 {
		t.Errorf("%d answers 503 without Retry-After", n)
	}

	// Every record's blob exists; no blob is left without a record once
	// the collector's grace period has passed.
	s3 := testenv.S3Client(t)
	for id, rec := range recs {
		if _, err := s3.StatObject(ctx, bucket, rec.BlobKey, minio.StatObjectOptions{}); err != nil {
			t.Errorf("%s (%s): blob %s: %v", id, rec.State, rec.BlobKey, err)
		}
	}
	checkNoOrphans(ctx, t, s3, bucket, cat)

	// No job is left in the stream, and the audit stream is intact.
	checkStreams(ctx, t, js)

	res.outside, res.during = verdictLatencies(items, recs, plan)
	l.samples.Range(func(k, v any) bool {
		t.Logf("first %s answer: %s", k, v)
		return true
	})
	l.statuses.Range(func(k, v any) bool {
		res.statuses[k.(string)] = v.(interface{ Load() int64 }).Load()
		return true
	})
	return res
}

// openCluster opens the cluster's catalog and JetStream as a replica does,
// from the first replica's configuration.
func openCluster(t *testing.T, c *cluster) (app.Catalog, jetstream.JetStream, string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(filepath.Join(c.Var("MEDIAREPO_CLUSTER_DIR"), "mediarepo-1.yaml"), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := app.ConnectNATS(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	cat, err := app.OpenCatalog(ctx, cfg, n, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	return cat, n.JS, cfg.Storage.S3.Bucket
}

// orphanWait is how long the check waits for the collector: the
// cluster's maintenance.orphan_grace (15 s) plus passes (every 2 s) and
// slack for a busy machine.
const orphanWait = time.Minute

// checkNoOrphans lists the media blobs until none is left that no record
// names (the collector removes crashed uploads' blobs once their intent
// is past the grace period), and fails for those still there after
// orphanWait. Thumbnails and quarantine have their own prefixes and rules.
func checkNoOrphans(ctx context.Context, t *testing.T, s3 *minio.Client, bucket string, cat app.Catalog) {
	t.Helper()
	deadline := time.Now().Add(orphanWait)
	for {
		// Every record's blob, not only the acknowledged uploads': an
		// upload whose answer was cut off when the load stopped still
		// has its record.
		used := map[string]bool{}
		for _, st := range []media.State{media.StatePending, media.StateClean, media.StateQuarantined, media.StateBlocked} {
			if err := cat.ListByState(ctx, st, func(e catalog.Entry) error {
				used[e.Record.BlobKey] = true
				return nil
			}); err != nil {
				t.Fatalf("listing %s records: %v", st, err)
			}
		}
		var orphans []minio.ObjectInfo
		for oi := range s3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: media.BlobPrefix, Recursive: true}) {
			if oi.Err != nil {
				t.Fatalf("list %s: %v", bucket, oi.Err)
			}
			if !used[oi.Key] {
				orphans = append(orphans, oi)
			}
		}
		if len(orphans) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, oi := range orphans {
				t.Errorf("orphan blob %s (%d bytes, %s old)", oi.Key, oi.Size, time.Since(oi.LastModified).Round(time.Second))
			}
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// checkStreams: the scan-job work queue is empty and the audit stream has
// every message it ever took (no gaps, nothing deleted).
func checkStreams(ctx context.Context, t *testing.T, js jetstream.JetStream) {
	t.Helper()
	var jobs uint64
	for range 60 {
		s, err := js.Stream(ctx, "MEDIAREPO_SCAN")
		if err != nil {
			t.Fatalf("scan stream: %v", err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatalf("scan stream info: %v", err)
		}
		if jobs = info.State.Msgs; jobs == 0 {
			break
		}
		time.Sleep(time.Second)
	}
	if jobs != 0 {
		t.Errorf("%d scan jobs are left in the stream", jobs)
	}
	s, err := js.Stream(ctx, "MEDIAREPO_AUDIT")
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return // no officer acted: nothing audited
		}
		t.Fatalf("audit stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("audit stream info: %v", err)
	}
	st := info.State
	if st.NumDeleted != 0 || (st.Msgs > 0 && (st.FirstSeq != 1 || st.LastSeq != st.Msgs)) {
		t.Errorf("audit stream not intact: %+v", st)
	}
	if info.Cluster != nil {
		for _, p := range info.Cluster.Replicas {
			if !p.Current {
				t.Errorf("audit stream replica %s is not current", p.Name)
			}
		}
	}
}

// verdictLatencies splits the time from upload to verdict (the record's
// ScannedAt) by whether the upload fell into a fault's window (from the
// kill to 10 s after the restart).
func verdictLatencies(items []*item, recs map[string]media.Record, plan []*fault) (outside, during latencies) {
	var out, in []time.Duration
	for _, it := range items {
		rec, ok := recs[it.mediaID]
		if !ok || rec.Verdict == nil || rec.Verdict.ScannedAt.IsZero() {
			continue
		}
		d := rec.Verdict.ScannedAt.Sub(it.acked)
		if d < 0 {
			d = 0
		}
		faulty := false
		for _, f := range plan {
			if !it.acked.Before(f.start) && it.acked.Before(f.end.Add(10*time.Second)) {
				faulty = true
			}
		}
		if faulty {
			in = append(in, d)
		} else {
			out = append(out, d)
		}
	}
	return pct(out), pct(in)
}

func pct(ds []time.Duration) latencies {
	if len(ds) == 0 {
		return latencies{}
	}
	slices.Sort(ds)
	at := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	return latencies{p50: at(0.50), p99: at(0.99)}
}
