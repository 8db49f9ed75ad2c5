package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"
)

// goals of issue 18 for small media, measured by smallMedia.
const (
	goalSmallDownloadP99ms = 20.0 // 10 KB downloads of clean media at concurrency 16
	goalThumbP99ms         = 10.0 // a cached thumbnail
	smallSetSize           = 256  // small objects stored per target, read in turn
	thumbC1Count           = 200  // sequential cached-thumbnail requests per repeat
)

// smallMedia measures what a scrolling timeline asks for: downloads of
// small clean media at concurrency, beside raw minio-go GETs of objects
// of the same size in the same bucket, and a cached thumbnail (its first
// request, which generates it, is untimed), at concurrency and one at a
// time. Every figure is a repeat of smallCount requests, interleaved.
func (r *httpRun) smallMedia(ctx context.Context) error {
	s3i, fsi, err := r.pair(ctx, "small", true)
	if err != nil {
		return err
	}
	defer s3i.stop()
	defer fsi.stop()
	conc, small := r.f.smallConc, r.cfg.small
	s3c, fsc := newAPIClient(s3i, conc), newAPIClient(fsi, conc)
	fmt.Printf("\nsmall media: %d × %s stored untimed per target and read in turn, %d reads per repeat at concurrency %d;\n"+
		"a cached 320×240 thumbnail of a 1600×1200 JPEG on S3 (generated once, untimed)\n",
		smallSetSize, formatSize(small), r.f.smallCount, conc)
	s3Set, err := storeSmallAPI(ctx, s3c, r.dlContent, smallSetSize, small, conc)
	if err != nil {
		return fmt.Errorf("storing small media on s3: %w", err)
	}
	fsSet, err := storeSmallAPI(ctx, fsc, r.dlContent, smallSetSize, small, conc)
	if err != nil {
		return fmt.Errorf("storing small media on fs: %w", err)
	}
	rawSet, err := storeSmallRaw(ctx, r.raw, r.dlContent, "small-get", smallSetSize, small, conc)
	if err != nil {
		return fmt.Errorf("storing small raw objects: %w", err)
	}
	photoMXC, err := uploadPhoto(ctx, s3c, r.dlContent)
	if err != nil {
		return err
	}
	thumb := func(ctx context.Context) error {
		_, err := s3c.thumbnail(ctx, photoMXC, 320, 240)
		return err
	}
	if err := thumb(ctx); err != nil { // generates and caches it
		return err
	}
	targets := []struct {
		name string
		conc int
		n    int
		fn   func(context.Context) error
	}{
		{"raw", conc, r.f.smallCount, rawSet.rawGets(r.raw, small)},
		{"s3", conc, r.f.smallCount, s3Set.apiGets(s3c, small)},
		{"fs", conc, r.f.smallCount, fsSet.apiGets(fsc, small)},
		{"thumb", conc, r.f.smallCount, thumb},
		{"thumb-c1", 1, thumbC1Count, thumb},
	}
	for _, t := range targets { // warm-up: connections, caches
		if _, err := concurrently(ctx, 2*t.conc, t.conc, t.fn); err != nil {
			return fmt.Errorf("warm-up %s: %w", t.name, err)
		}
	}
	for i := range r.f.repeat {
		for _, t := range targets {
			var res loadResult
			cpu, err := accountCPU(t.n, func() (err error) {
				res, err = concurrently(ctx, t.n, t.conc, t.fn)
				return err
			})
			if err != nil {
				return fmt.Errorf("small media %s: %w", t.name, err)
			}
			fmt.Printf("  repeat %d, %-8s (concurrency %2d) %6.0f/s  p50 %6.1f ms  p99 %6.1f ms\n      %s\n",
				i+1, t.name, t.conc, res.perSecond, ms(res.p50), ms(res.p99), cpu)
			r.figs.add("cpu smalldl "+t.name, cpu.known())
			r.figs.add("smalldl "+t.name+" rate", res.perSecond)
			r.figs.add("smalldl "+t.name+" p50", ms(res.p50))
			r.figs.add("smalldl "+t.name+" p99", ms(res.p99))
		}
	}
	return nil
}

// reportSmallMedia prints the table of smallMedia's figures.
func (r *httpRun) reportSmallMedia() {
	g := r.figs
	fmt.Printf("\n%s downloads of clean media, %d per repeat at concurrency %d, and a cached thumbnail (S3)\n",
		formatSize(r.cfg.small), r.f.smallCount, r.f.smallConc)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\trequests/s\tp50 ms\tp99 ms\t")
	for _, t := range []struct{ key, name string }{
		{"raw", "raw minio-go GET, same MinIO"}, {"s3", "mediarepo on S3"}, {"fs", "mediarepo on fs"},
		{"thumb", fmt.Sprintf("cached thumbnail, S3, concurrency %d", r.f.smallConc)},
		{"thumb-c1", "cached thumbnail, S3, one at a time"},
	} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", t.name, g.get("smalldl "+t.key+" rate"),
			one(g.get("smalldl "+t.key+" p50")), one(g.get("smalldl "+t.key+" p99")))
	}
	_ = tw.Flush()
}

// smallMediaGoals prints the goal lines of smallMedia's figures.
func (r *httpRun) smallMediaGoals(line func(what, value, goal string, ok bool)) {
	g, small, conc := r.figs, formatSize(r.cfg.small), r.f.smallConc
	s3, raw := g.get("smalldl s3 rate"), g.get("smalldl raw rate")
	q := ratio(s3, raw)
	line(fmt.Sprintf("%s downloads/s c%d, mediarepo S3 / raw minio-go GET", small, conc),
		ratioRange(s3, raw), fmt.Sprintf("≥ %.1f", goalRatio), q >= goalRatio)
	p99 := g.get("smalldl s3 p99").median()
	line(fmt.Sprintf("%s download p99 c%d, mediarepo S3 (raw GET p99 %.1f ms)", small, conc, g.get("smalldl raw p99").median()),
		fmt.Sprintf("%.1f ms", p99), fmt.Sprintf("< %.0f ms", goalSmallDownloadP99ms), p99 < goalSmallDownloadP99ms)
	tp99 := g.get("smalldl thumb p99").median()
	line(fmt.Sprintf("cached thumbnail p99 c%d, mediarepo S3 (one at a time: %.1f ms)", conc, g.get("smalldl thumb-c1 p99").median()),
		fmt.Sprintf("%.1f ms", tp99), fmt.Sprintf("< %.0f ms", goalThumbP99ms), tp99 < goalThumbP99ms)
	fmt.Printf("figure: %s downloads/s c%d, mediarepo fs / raw minio-go GET: %s (fs %.0f/s, p99 %.1f ms)\n", small, conc,
		ratioRange(g.get("smalldl fs rate"), raw), g.get("smalldl fs rate").median(), g.get("smalldl fs p99").median())
}

// ratioRange formats the ratio of medians of a over b and, in brackets,
// the lowest and highest ratio of one repeat to the baseline's same
// repeat (the figures are measured interleaved, repeat by repeat).
func ratioRange(a, b rates) string {
	per := make([]float64, min(len(a), len(b)))
	for i := range per {
		per[i] = a[i] / b[i]
	}
	return fmt.Sprintf("%.2f (%.2f-%.2f)", ratio(a, b), slices.Min(per), slices.Max(per))
}
