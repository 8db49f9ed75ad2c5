package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// scale: the catalog at N records (issue 13 item 5). For each backend the
// parent fills N records through the catalog API with many writers, then
// a fresh child process (a restarted mediarepo) opens the catalog and
// measures restart time, RSS, the officers' pages, one uploader's media
// and one reconciler pass. The parent prints one table per backend.

type scaleFlags struct {
	backends    string
	n           int
	writers     int
	quarantined float64
	uploaders   int
	dir         string
	dsn         string
	samples     int
	keep        bool
	from        int
	apiFill     int
}

func runScale(args []string) int {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	var f scaleFlags
	fs.StringVar(&f.backends, "backends", "kv,postgres", "catalog backends to measure, comma-separated (kv, postgres)")
	fs.IntVar(&f.n, "n", 1_000_000, "records to fill")
	fs.IntVar(&f.writers, "writers", 16, "concurrent writers during the fill")
	fs.Float64Var(&f.quarantined, "quarantined", 0.002, "share of records quarantined (0.001-0.01)")
	fs.IntVar(&f.uploaders, "uploaders", 50_000, "distinct uploaders (Zipf-distributed)")
	fs.StringVar(&f.dir, "dir", "", "work directory (default: a temporary one, removed at the end)")
	fs.StringVar(&f.dsn, "postgres-dsn", os.Getenv("MEDIAREPO_TEST_POSTGRES_URL"), "PostgreSQL server to create the bench database on")
	fs.IntVar(&f.samples, "samples", 200, "timed repetitions per page figure (p50/p99)")
	fs.BoolVar(&f.keep, "keep", false, "keep the filled stores (reuse with the same -dir)")
	fs.IntVar(&f.apiFill, "api-fill", 20_000, "PostgreSQL: records filled through the catalog API (the insert rate); the rest by COPY")
	fs.IntVar(&f.from, "from", 0, "resume a fill at this record (with -dir and -keep of an interrupted run)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := scaleMain(f); err != nil {
		fmt.Fprintf(os.Stderr, "mrbench scale: %v\n", err)
		return 1
	}
	return 0
}

func scaleMain(f scaleFlags) error {
	if f.dir == "" {
		d, err := os.MkdirTemp("", "mrbench-scale-")
		if err != nil {
			return err
		}
		f.dir = d
	}
	if !f.keep {
		defer os.RemoveAll(f.dir)
	}
	fmt.Printf("catalog scale: N=%d, %d writers, %.2f%% quarantined, %d uploaders (Zipf s=1.1, v=10), %d samples per page figure\n",
		f.n, f.writers, f.quarantined*100, f.uploaders, f.samples)
	for _, b := range splitList(f.backends) {
		res, err := scaleBackend(f, b)
		if err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
		res.print()
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range bytes.Split([]byte(s), []byte(",")) {
		if t := string(bytes.TrimSpace(p)); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// scaleResult is one backend's row set.
type scaleResult struct {
	Backend string
	N       int
	// Filled is how many records this run wrote (N unless resumed).
	Filled      int
	FillSeconds float64
	// BulkNote describes a fill by COPY after the first records.
	BulkNote  string
	DiskBytes int64
	Child     childFigures
}

func (r scaleResult) print() {
	c := r.Child
	fmt.Printf("\n%s, N = %d\n", r.Backend, r.N)
	fmt.Printf("| figure | measured |\n|---|---|\n")
	fmt.Printf("| insert rate through the catalog (blob record + record, %s) | %.0f records/s (%d in %.0f s) |\n", c.FillNote, float64(r.Filled)/r.FillSeconds, r.Filled, r.FillSeconds)
	if r.BulkNote != "" {
		fmt.Printf("| rest of the fill | %s |\n", r.BulkNote)
	}
	fmt.Printf("| bytes on disk per record | %.0f B (%.2f GB) |\n", float64(r.DiskBytes)/float64(r.N), float64(r.DiskBytes)/1e9)
	fmt.Printf("| restart (open the catalog%s) | %.2f s |\n", c.RestartNote, c.RestartSeconds)
	fmt.Printf("| RSS after restart (mediarepo%s) | %.0f MB |\n", c.RestartNote, float64(c.RSSAfterOpenKB)/1024)
	fmt.Printf("| officers' first page (50 of quarantined+blocked; %d quarantined) p50 / p99 | %.1f / %.1f ms |\n", c.Matches, c.FirstPage.P50, c.FirstPage.P99)
	fmt.Printf("| officers' later page (page %d) p50 / p99 | %.1f / %.1f ms |\n", c.LaterPageNo, c.LaterPage.P50, c.LaterPage.P99)
	fmt.Printf("| one uploader's media and usage (%d media) p50 / p99 | %.1f / %.1f ms |\n", c.UploaderMedia, c.Uploader.P50, c.Uploader.P99)
	fmt.Printf("| one reconciler pass at steady state p50 / p99 | %.1f / %.1f ms |\n", c.Pass.P50, c.Pass.P99)
	fmt.Printf("| RSS at the end (peak) | %.0f MB (%.0f MB) |\n", float64(c.RSSEndKB)/1024, float64(c.PeakKB)/1024)
}

// fillRecord returns record i of the fill: its uploader follows a Zipf
// law, a share q of the records is quarantined, the rest clean.
func fillRecord(i int, uploader string, q float64, at time.Time) (media.Record, media.Blob) {
	h := sha256.Sum256([]byte(strconv.Itoa(i)))
	sha := hex.EncodeToString(h[:])
	id := fmt.Sprintf("scale%010d", i)
	rec := media.NewPending("example.org", id, uploader, at, media.Content{DeclaredType: "image/jpeg", SniffedType: "image/jpeg",
		Filename: "IMG_" + id + ".jpg", Size: 50_000 + int64(i%200_000), SHA256: sha, BlobKey: "media/" + id})
	change := media.Change{Transition: media.VerdictClean, At: at.Add(time.Second), Actor: "scanworker@node-1",
		Verdict: &media.Verdict{Result: media.ResultClean, Engine: "ClamAV", EngineVersion: "1.4.3", SignatureVersion: "27845", ScannedAt: at.Add(time.Second)}}
	// Spread the quarantined evenly through the fill (the worst case for a
	// store that reads by position).
	if every := int(1 / q); every > 0 && i%every == every/2 {
		change.Transition = media.VerdictInfected
		change.Verdict.Result = media.ResultInfected
		change.Verdict.Signature = "Win.Test.EICAR_HDB-1"
	}
	next, err := rec.Apply(change)
	if err != nil {
		panic(err) // a fixed, valid transition
	}
	b := media.NewBlob(sha, rec.BlobKey, rec.Size, at)
	return next, b
}

// retry runs a fill write until it succeeds, at most 5 times: on a loaded
// machine a JetStream request may time out and succeed on the server, so
// "exists" after a failed attempt counts as done (and the fill can be
// resumed with -from over a store that has the first records).
func retry(write func() error) error {
	var err error
	for attempt := range 5 {
		err = write()
		if err == nil || errors.Is(err, media.ErrExists) {
			return nil
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return err
}

// uploaderName returns the Zipf-ranked uploader of rank r (0: heaviest).
func uploaderName(r uint64) string { return fmt.Sprintf("@user%06d:example.org", r) }

// fill writes N records through c with writers goroutines and returns
// the duration.
func fill(ctx context.Context, c catalog.Catalog, f scaleFlags) (time.Duration, error) {
	var next atomic.Int64
	next.Store(int64(f.from))
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	base := time.Now().Add(-time.Duration(f.n) * time.Second)
	start := time.Now()
	for w := range f.writers {
		wg.Go(func() {
			z := rand.NewZipf(rand.New(rand.NewPCG(uint64(w), 7)), 1.1, 10, uint64(f.uploaders-1))
			for {
				i := int(next.Add(1) - 1)
				if i >= f.n {
					return
				}
				rec, b := fillRecord(i, uploaderName(z.Uint64()), f.quarantined, base.Add(time.Duration(i)*time.Second))
				if err := retry(func() error { _, err := c.CreateBlob(ctx, b); return err }); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("blob record %d: %w", i, err) })
					return
				}
				if err := retry(func() error { _, err := c.Create(ctx, rec); return err }); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("record %d: %w", i, err) })
					return
				}
				if i > f.from && i%100_000 == 0 {
					el := time.Since(start)
					fmt.Fprintf(os.Stderr, "  filled %d in %s (%.0f/s)\n", i, el.Round(time.Second), float64(i-f.from)/el.Seconds())
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// dirSize returns the bytes of the files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}

// runChild runs the measurements of a restarted process.
func runChild(args ...string) (childFigures, error) {
	self, err := os.Executable()
	if err != nil {
		return childFigures{}, err
	}
	cmd := exec.Command(self, append([]string{scaleChildCommand}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return childFigures{}, fmt.Errorf("child: %w", err)
	}
	var c childFigures
	if err := json.Unmarshal(bytes.TrimSpace(out), &c); err != nil {
		return c, fmt.Errorf("child output %q: %w", out, err)
	}
	return c, nil
}
