package main

import (
	"fmt"
	"os"
	"slices"
	"text/tabwriter"
)

// matrix-media-repo's figures on this kind of machine (file store,
// PostgreSQL), from /work/shared/environment.md: constants measured by a
// peer, not in this run.
const (
	mmrSmallLo, mmrSmallHi = 361, 433 // tuned, 10 KiB at concurrency 16, uploads/s
	mmrP50, mmrP99         = "35-42", "85-105"
	mmrUpLo, mmrUpHi       = 240, 250   // 100 MiB upload, MB/s
	mmrDownLo, mmrDownHi   = 1500, 1700 // 100 MiB download, MB/s
	mmrSource              = "constant from environment.md (a peer's measurement on this kind of machine), not measured in this run"
)

// goals of design §8 and issue 4 item 11.
const (
	goalRatio    = 0.8 // of raw minio-go, same MinIO, same run
	goalSmallMMR = 2.0 // × matrix-media-repo tuned, fs store
	goalP99ms    = 50.0
	goalGrowthMB = 64.0
)

// ratio is the ratio of medians.
func ratio(a, b rates) float64 { return a.median() / b.median() }

// one formats a series with one decimal.
func one(r rates) string {
	return fmt.Sprintf("%.1f (%.1f-%.1f)", r.median(), slices.Min(r), slices.Max(r))
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}

func (r *httpRun) report() {
	f, g, small := r.f, r.figs, formatSize(r.cfg.small)
	fmt.Printf("\n%s uploads, %d per repeat at concurrency %d\n", small, f.smallCount, f.smallConc)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tuploads/s\tp50 ms\tp99 ms\t")
	for _, t := range []struct{ key, name string }{
		{"raw", "raw minio-go PUT, same MinIO"}, {"s3", "mediarepo on S3"}, {"fs", "mediarepo on fs"},
	} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", t.name, g.get("small "+t.key+" rate"),
			one(g.get("small "+t.key+" p50")), one(g.get("small "+t.key+" p99")))
	}
	if _, ok := g["small s3-pg rate"]; ok {
		fmt.Fprintf(tw, "mediarepo on S3, PostgreSQL catalog\t%s\t%s\t%s\t\n", g.get("small s3-pg rate"),
			one(g.get("small s3-pg p50")), one(g.get("small s3-pg p99")))
	}
	if f.diagSync != "" {
		fmt.Fprintf(tw, "diagnostic: on fs, nats.sync_interval %s\t%s\t%s\t%s\t\n", f.diagSync, g.get("small fs-sync rate"),
			one(g.get("small fs-sync p50")), one(g.get("small fs-sync p99")))
	}
	fmt.Fprintf(tw, "matrix-media-repo on fs, tuned*\t%d-%d\t%s\t%s\t\n", mmrSmallLo, mmrSmallHi, mmrP50, mmrP99)
	_ = tw.Flush()
	fmt.Printf("* %s\n", mmrSource)
	if f.diagSync != "" {
		fmt.Printf("diagnostic row: NOT the default (which fsyncs every JetStream write); it shows what the fsyncs cost\n")
	}

	fmt.Printf("\nlarge objects through the HTTP API, MB/s, one request at a time (batches of max(1, 64MB/size))\n")
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "size\top\traw minio-go\tmediarepo S3\tS3/raw\tmediarepo fs\tmatrix-media-repo fs*\t")
	for _, size := range r.cfg.large {
		for _, op := range []string{"PUT", "GET"} {
			key := fmt.Sprintf("%s %d ", op, size)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t\n", formatSize(size), op, g.get(key+"raw"), g.get(key+"s3"),
				ratio(g.get(key+"s3"), g.get(key+"raw")), g.get(key+"fs"), r.mmrLarge(size, op))
		}
	}
	if !r.isLarge(r.cfg.fs) {
		for _, op := range []string{"PUT", "GET"} {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t%s\t%s\t\n", formatSize(r.cfg.fs), op,
				g.get(fmt.Sprintf("%s %d fs", op, r.cfg.fs)), r.mmrLarge(r.cfg.fs, op))
		}
	}
	_ = tw.Flush()
	fmt.Printf("* %s\n", mmrSource)
	r.reportSmallMedia()

	fmt.Printf("\npeak RSS of the mediarepo process, MB (growth: VmHWM, reset before each measurement, minus the fresh\n"+
		"process's VmRSS after one small upload: s3 %s, fs %s)\n", g.get("rss baseline s3"), g.get("rss baseline fs"))
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "uploads\tbackend\tgrowth\tpeak\t")
	for _, m := range []struct{ key, name string }{
		{"one", "one of " + formatSize(r.cfg.rss) + ", fresh process"},
		{"again", "a second one, same process"},
		{"many", fmt.Sprintf("%d concurrent of %s, fresh process", f.rssConc, formatSize(r.cfg.rssEach))},
	} {
		for _, b := range []string{"s3", "fs"} {
			key := fmt.Sprintf("rss %s %s ", m.key, b)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", m.name, b, g.get(key+"growth"), g.get(key+"peak"))
		}
	}
	_ = tw.Flush()
	r.goals()
}

// mmrLarge is matrix-media-repo's figure for the fs comparison size.
func (r *httpRun) mmrLarge(size int64, op string) string {
	switch {
	case size != r.cfg.fs:
		return "-"
	case op == "PUT":
		return fmt.Sprintf("%d-%d", mmrUpLo, mmrUpHi)
	}
	return fmt.Sprintf("%d-%d", mmrDownLo, mmrDownHi)
}

// goals prints one "goal:" line per goal with the median figure, the
// goal and whether it is met; scripts/bench collects these lines.
func (r *httpRun) goals() {
	g, small := r.figs, formatSize(r.cfg.small)
	fmt.Printf("\ngoals (design §8, issue 4 item 11, issue 18), on medians of this run; ratios: of medians (lowest-highest of one repeat to the same repeat's baseline):\n")
	line := func(what string, value, goal string, ok bool) {
		fmt.Printf("goal: %-58s %-22s goal %-14s %s\n", what, value, goal, verdict(ok))
	}
	s3raw := ratio(g.get("small s3 rate"), g.get("small raw rate"))
	line(small+" uploads/s, mediarepo S3 / raw minio-go PUT", ratioRange(g.get("small s3 rate"), g.get("small raw rate")),
		fmt.Sprintf("≥ %.1f", goalRatio), s3raw >= goalRatio)
	fsRate := g.get("small fs rate").median()
	line(small+" uploads/s, mediarepo fs / mmr tuned 361-433*",
		fmt.Sprintf("%.2f-%.2f× (%.0f/s)", fsRate/mmrSmallHi, fsRate/mmrSmallLo, fsRate),
		fmt.Sprintf("≥ %.0f× of 433", goalSmallMMR), fsRate >= goalSmallMMR*mmrSmallHi)
	if r.f.diagSync != "" {
		fmt.Printf("figure: %s uploads/s on fs with nats.sync_interval %s (diagnostic, not the default): %.0f/s, p99 %.1f ms\n",
			small, r.f.diagSync, g.get("small fs-sync rate").median(), g.get("small fs-sync p99").median())
	}
	p99 := g.get("small fs p99").median()
	line(small+" upload p99, mediarepo fs", fmt.Sprintf("%.1f ms", p99), fmt.Sprintf("< %.0f ms", goalP99ms), p99 < goalP99ms)
	for _, size := range r.cfg.large {
		for _, op := range []string{"PUT", "GET"} {
			key := fmt.Sprintf("%s %d ", op, size)
			q := ratio(g.get(key+"s3"), g.get(key+"raw"))
			line(fmt.Sprintf("%s %s MB/s, mediarepo S3 / raw minio-go", formatSize(size), op),
				ratioRange(g.get(key+"s3"), g.get(key+"raw")), fmt.Sprintf("≥ %.1f", goalRatio), q >= goalRatio)
		}
	}
	r.productionGoals(line)
	r.smallMediaGoals(line)
	r.cpuBounds()
	up, down := g.get(fmt.Sprintf("PUT %d fs", r.cfg.fs)).median(), g.get(fmt.Sprintf("GET %d fs", r.cfg.fs)).median()
	line(fmt.Sprintf("%s upload MB/s, mediarepo fs vs mmr 240-250*", formatSize(r.cfg.fs)),
		fmt.Sprintf("%.0f MB/s", up), fmt.Sprintf("≥ %d", mmrUpHi), up >= mmrUpHi)
	line(fmt.Sprintf("%s download MB/s, mediarepo fs vs mmr 1500-1700*", formatSize(r.cfg.fs)),
		fmt.Sprintf("%.0f MB/s", down), fmt.Sprintf("≥ %d", mmrDownHi), down >= mmrDownHi)
	for _, b := range []string{"s3", "fs"} {
		grow := g.get("rss one " + b + " growth").median()
		line(fmt.Sprintf("peak RSS growth, one %s upload, mediarepo %s", formatSize(r.cfg.rss), b),
			fmt.Sprintf("%.1f MB", grow), fmt.Sprintf("< %.0f MB", goalGrowthMB), grow < goalGrowthMB)
	}
	for _, b := range []string{"s3", "fs"} {
		fmt.Printf("figure: peak RSS growth, a second %s upload in the same process, mediarepo %s: %.1f MB\n",
			formatSize(r.cfg.rss), b, g.get("rss again "+b+" growth").median())
	}
	for _, b := range []string{"s3", "fs"} {
		fmt.Printf("figure: peak RSS under %d concurrent %s uploads, mediarepo %s: %.0f MB (growth %.0f MB; bounded: reported, no fixed goal)\n",
			r.f.rssConc, formatSize(r.cfg.rssEach), b, slices.Max(g.get("rss many "+b+" peak")), slices.Max(g.get("rss many "+b+" growth")))
	}
	fmt.Printf("* mmr = matrix-media-repo, %s; compared with the top of its range\n", mmrSource)
}
