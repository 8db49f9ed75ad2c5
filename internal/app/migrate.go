package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/media"
)

// `mediarepo catalog migrate --from kv --to postgres` copies every record,
// per-hash blob record, per-key verdict and upload intent, and the remote
// bytes count, from the JetStream KV catalog into PostgreSQL:
//   - nothing is written to the source (kv.Export binds its buckets read
//     only);
//   - the source is the truth: a record missing in the destination is
//     created, one that differs is replaced, an equal one is left alone.
//     So an interrupted run is resumed by running it again, and a second
//     run changes nothing;
//   - a progress bar shows the rate and the time left;
//   - at the end the counts are checked: every source record and blob
//     record is in the destination, and the destination holds no more.
//
// Run it while mediarepo is stopped (what changes in the source during the
// copy is caught by running it again), then switch catalog.backend to
// postgres. Per-key verdicts get a fresh lifetime in the destination.

// migrateStats counts what a migration did per kind.
type migrateStats struct {
	Created, Replaced, Equal atomic.Int64
}

func (s *migrateStats) total() int64 { return s.Created.Load() + s.Replaced.Load() + s.Equal.Load() }

func (s *migrateStats) String() string {
	return fmt.Sprintf("%d (%d created, %d replaced, %d already equal)", s.total(), s.Created.Load(), s.Replaced.Load(), s.Equal.Load())
}

// catalogCounter is a destination that can count what it holds
// (postgres.Catalog has it).
type catalogCounter interface {
	Counts(ctx context.Context) (records, blobs int64, err error)
}

func migrateCommand(ctx context.Context, cfg config.Config, args []string, log *slog.Logger, out io.Writer) error {
	fs := flag.NewFlagSet("catalog migrate", flag.ContinueOnError)
	fs.SetOutput(out)
	from := fs.String("from", "kv", "source backend (kv)")
	to := fs.String("to", "postgres", "destination backend (postgres), configured in catalog.postgres")
	workers := fs.Int("workers", 8, "concurrent writes to the destination")
	dsnFile := fs.String("postgres-dsn-file", cfg.Catalog.Postgres.DSNFile, "file holding the destination's PostgreSQL connection string (default: catalog.postgres.dsn_file)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from != "kv" || *to != "postgres" {
		return fmt.Errorf("catalog migrate: only --from kv --to postgres is supported")
	}
	n, err := ConnectNATS(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer n.Close()
	src, err := kv.OpenExport(ctx, n.JS, kv.Options{})
	if err != nil {
		return err
	}
	dst, err := openPostgres(ctx, *dsnFile, log)
	if err != nil {
		return err
	}
	defer dst.Close()
	return migrateCatalog(ctx, src, dst, *workers, out)
}

// migrateCatalog copies src into dst (see above).
func migrateCatalog(ctx context.Context, src *kv.Export, dst catalog.Catalog, workers int, out io.Writer) error {
	start := time.Now()
	approx, err := src.ApproxRecords(ctx)
	if err != nil {
		return err
	}
	var recs, blobs migrateStats
	bar := newBar(int64(approx), "records", out)
	err = copyParallel(ctx, workers, bar, &recs, func(put func(func() (int, error))) error {
		return src.Records(ctx, func(rec media.Record) error {
			put(func() (int, error) { return copyRecord(ctx, dst, rec) })
			return nil
		})
	})
	_ = bar.Finish()
	if err != nil {
		return fmt.Errorf("copying records: %w", err)
	}
	bar = newBar(-1, "blob records", out)
	err = copyParallel(ctx, workers, bar, &blobs, func(put func(func() (int, error))) error {
		return src.Blobs(ctx, func(b media.Blob) error {
			put(func() (int, error) { return copyBlob(ctx, dst, b) })
			return nil
		})
	})
	_ = bar.Finish()
	if err != nil {
		return fmt.Errorf("copying blob records: %w", err)
	}
	var verdicts, intents int
	err = src.KeyVerdicts(ctx, func(origin, id string, digest [32]byte, v media.Verdict) error {
		verdicts++
		return dst.PutKeyVerdict(ctx, origin, id, digest, v)
	})
	if err != nil {
		return fmt.Errorf("copying per-key verdicts: %w", err)
	}
	err = src.Intents(ctx, func(in catalog.Intent) error {
		intents++
		return dst.PutIntent(ctx, in)
	})
	if err != nil {
		return fmt.Errorf("copying upload intents: %w", err)
	}
	remote, err := src.RemoteBytes(ctx)
	if err != nil {
		return err
	}
	cur, err := dst.RemoteBytes(ctx)
	if err != nil {
		return err
	}
	if cur != remote {
		if _, err := dst.AddRemoteBytes(ctx, remote-cur, 0); err != nil {
			return fmt.Errorf("copying the remote bytes count: %w", err)
		}
	}
	users, err := copyUsages(ctx, src, dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nrecords: %s\nblob records: %s\nper-key verdicts: %d, upload intents: %d, remote bytes: %d, users' usage counters: %d\n",
		&recs, &blobs, verdicts, intents, remote, users)
	if c, ok := dst.(catalogCounter); ok {
		nr, nb, err := c.Counts(ctx)
		if err != nil {
			return fmt.Errorf("verifying: %w", err)
		}
		if nr != recs.total() || nb != blobs.total() {
			return fmt.Errorf("verifying: the destination holds %d records and %d blob records, the source %d and %d (was the destination used before, or did the source change? run the migration again)",
				nr, nb, recs.total(), blobs.total())
		}
		fmt.Fprintf(out, "verified: the destination holds the source's %d records and %d blob records\n", nr, nb)
	}
	fmt.Fprintf(out, "migrated in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// copyUsages sets every user's usage counter in dst to the source's (a
// second run finds them equal and adds nothing), so quotas and the
// officers' usage listing carry over. It returns the number of users.
func copyUsages(ctx context.Context, src *kv.Export, dst catalog.Catalog) (int, error) {
	n := 0
	err := src.Usages(ctx, func(user string, u catalog.Usage) error {
		n++
		cur, err := dst.GetUsage(ctx, user)
		if err != nil {
			return err
		}
		if cur == u {
			return nil
		}
		_, err = dst.AddUsage(ctx, user, catalog.Usage{Bytes: u.Bytes - cur.Bytes, Files: u.Files - cur.Files}, catalog.Usage{})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("copying usage counters: %w", err)
	}
	return n, nil
}

func newBar(total int64, what string, out io.Writer) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(what),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionFullWidth(),
	)
}

// copyParallel runs the copies that produce hands over on workers
// goroutines; each copy answers which of created (0), replaced (1) or equal
// (2) it was. The first error stops the run.
func copyParallel(ctx context.Context, workers int, bar *progressbar.ProgressBar, st *migrateStats, produce func(put func(func() (int, error))) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan func() (int, error), 4*workers)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for job := range jobs {
				if ctx.Err() != nil {
					continue
				}
				kind, err := job()
				if err != nil {
					cancel(err)
					continue
				}
				[]*atomic.Int64{&st.Created, &st.Replaced, &st.Equal}[kind].Add(1)
				_ = bar.Add(1)
			}
		})
	}
	err := produce(func(job func() (int, error)) {
		select {
		case jobs <- job:
		case <-ctx.Done():
		}
	})
	close(jobs)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return err
}

// copyRecord makes the destination's record equal to rec.
func copyRecord(ctx context.Context, dst catalog.Catalog, rec media.Record) (int, error) {
	for range 5 {
		_, err := dst.Create(ctx, rec)
		if err == nil {
			return 0, nil
		}
		if !errors.Is(err, media.ErrExists) {
			return 0, fmt.Errorf("%s: %w", rec.MXC(), err)
		}
		have, rev, err := dst.Get(ctx, rec.Origin, rec.ID)
		if errors.Is(err, media.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if sameJSON(have, rec) {
			return 2, nil
		}
		_, err = dst.Update(ctx, rec, rev)
		if err == nil {
			return 1, nil
		}
		if !errors.Is(err, media.ErrConflict) {
			return 0, fmt.Errorf("%s: %w", rec.MXC(), err)
		}
	}
	return 0, fmt.Errorf("%s: %w: the destination kept changing", rec.MXC(), media.ErrConflict)
}

// copyBlob makes the destination's blob record equal to b.
func copyBlob(ctx context.Context, dst catalog.Catalog, b media.Blob) (int, error) {
	for range 5 {
		_, err := dst.CreateBlob(ctx, b)
		if err == nil {
			return 0, nil
		}
		if !errors.Is(err, media.ErrExists) {
			return 0, fmt.Errorf("blob record %s: %w", b.SHA256, err)
		}
		have, rev, err := dst.GetBlob(ctx, b.SHA256)
		if errors.Is(err, media.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if sameJSON(have, b) {
			return 2, nil
		}
		_, err = dst.UpdateBlob(ctx, b, rev)
		if err == nil {
			return 1, nil
		}
		if !errors.Is(err, media.ErrConflict) {
			return 0, fmt.Errorf("blob record %s: %w", b.SHA256, err)
		}
	}
	return 0, fmt.Errorf("blob record %s: %w: the destination kept changing", b.SHA256, media.ErrConflict)
}

// sameJSON compares two values by their stored form.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
