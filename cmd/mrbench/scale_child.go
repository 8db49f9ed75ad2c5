package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/worker"
)

// scaleChildCommand measures a restarted process (see scale.go).
const scaleChildCommand = "scale-child"

// quantiles are the p50 and p99 of a figure in milliseconds.
type quantiles struct {
	P50, P99 float64
}

func quantilesOf(d []time.Duration) quantiles {
	if len(d) == 0 {
		return quantiles{}
	}
	slices.Sort(d)
	at := func(p float64) float64 { return ms(d[min(len(d)-1, int(p*float64(len(d))))]) }
	return quantiles{P50: at(0.50), P99: at(0.99)}
}

// childFigures is what the child measures.
type childFigures struct {
	FillNote       string
	RestartNote    string
	RestartSeconds float64
	RSSAfterOpenKB int64
	Matches        int
	FirstPage      quantiles
	LaterPageNo    int
	LaterPage      quantiles
	UploaderMedia  int
	Uploader       quantiles
	Pass           quantiles
	RSSEndKB       int64
	PeakKB         int64
}

// scaleCatalog is an open catalog in the child, with what the reconciler
// needs beside it.
type scaleCatalog struct {
	cat   catalog.Catalog
	queue *queue.Queue
	close func()
	note  string
}

func runScaleChild(args []string) int {
	flags := flag.NewFlagSet(scaleChildCommand, flag.ContinueOnError)
	backend := flags.String("backend", "kv", "kv or postgres")
	dir := flags.String("dir", "", "work directory")
	dsn := flags.String("postgres-dsn", "", "bench database")
	samples := flags.Int("samples", 200, "timed repetitions")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	res, err := scaleChild(*backend, *dir, *dsn, *samples)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mrbench %s: %v\n", scaleChildCommand, err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

func scaleChild(backend, dir, dsn string, samples int) (childFigures, error) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var res childFigures
	start := time.Now()
	sc, err := openScale(ctx, backend, dir, dsn, log)
	if err != nil {
		return res, err
	}
	defer sc.close()
	res.RestartSeconds = time.Since(start).Seconds()
	res.RestartNote = sc.note
	runtime.GC()
	if res.RSSAfterOpenKB, err = procStatusKB("self", "VmRSS"); err != nil {
		return res, err
	}
	cat := sc.cat

	// The officers' pages.
	if res.Matches, err = countState(ctx, cat, media.StateQuarantined); err != nil {
		return res, err
	}
	var first, later []time.Duration
	res.LaterPageNo = 10
	for range samples {
		t0 := time.Now()
		_, next, err := officersPage(ctx, cat, nil, 50)
		if err != nil {
			return res, err
		}
		first = append(first, time.Since(t0))
		for p := 2; p < res.LaterPageNo && next != nil; p++ {
			if _, next, err = officersPage(ctx, cat, next, 50); err != nil {
				return res, err
			}
		}
		if next != nil {
			t0 = time.Now()
			if _, _, err = officersPage(ctx, cat, next, 50); err != nil {
				return res, err
			}
			later = append(later, time.Since(t0))
		}
	}
	res.FirstPage, res.LaterPage = quantilesOf(first), quantilesOf(later)

	// One uploader's media and usage: the heaviest uploader.
	var up []time.Duration
	for range max(samples/10, 5) {
		t0 := time.Now()
		var bytes int64
		n := 0
		err := cat.ByUploader(ctx, uploaderName(1), func(e catalog.Entry) error {
			bytes += e.Record.Size
			n++
			return nil
		})
		if err != nil {
			return res, err
		}
		up = append(up, time.Since(t0))
		res.UploaderMedia = n
	}
	res.Uploader = quantilesOf(up)

	// One reconciler pass at steady state.
	store, err := fs.New(dir + "/blobs-" + backend)
	if err != nil {
		return res, err
	}
	r, err := worker.NewReconciler(cat.(worker.ReconcilerCatalog), store, sc.queue, worker.ReconcilerOptions{Holder: "mrbench"}, log, nil)
	if err != nil {
		return res, err
	}
	var passes []time.Duration
	for range max(samples/10, 5) {
		t0 := time.Now()
		if err := r.Pass(ctx); err != nil {
			return res, err
		}
		passes = append(passes, time.Since(t0))
	}
	res.Pass = quantilesOf(passes)
	if res.RSSEndKB, err = procStatusKB("self", "VmRSS"); err != nil {
		return res, err
	}
	res.PeakKB, err = procStatusKB("self", "VmHWM")
	return res, err
}

// officersPage lists one page of quarantined and blocked media after pos,
// as the officers' review does (catalog.List), and returns the position
// to continue from (nil at the end).
func officersPage(ctx context.Context, cat catalog.Catalog, after *catalog.Position, limit int) ([]catalog.Entry, *catalog.Position, error) {
	page, err := cat.List(ctx, catalog.ListQuery{States: []media.State{media.StateQuarantined, media.StateBlocked}, After: after, Limit: limit})
	if err != nil || len(page) < limit {
		return page, nil, err
	}
	p := catalog.PositionOf(page[len(page)-1].Record)
	return page, &p, nil
}

// countState counts the records in state.
func countState(ctx context.Context, cat catalog.Catalog, s media.State) (int, error) {
	n := 0
	err := cat.ListByState(ctx, s, func(catalog.Entry) error { n++; return nil })
	return n, err
}
