package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// goalBurstMiB is issue 18's goal: 30 s after a burst of small uploads,
// the process's RSS is within 16 MiB of the fresh process's.
const goalBurstMiB = 16

// runBurst is `mrbench burst`: how much memory a mediarepo process keeps
// after a burst of small uploads, and how soon it gives it back.
func runBurst(args []string) int {
	fset := flag.NewFlagSet("mrbench burst", flag.ContinueOnError)
	bin := fset.String("bin", "bin/mediarepo", "the mediarepo binary")
	count := fset.Int("count", 1000, "uploads in the burst")
	conc := fset.Int("concurrency", 16, "uploads in flight")
	sizeFlag := fset.String("size", "10KiB", "size of each upload")
	settle := fset.Duration("settle", 30*time.Second, "how long RSS is followed after the burst")
	repeat := fset.Int("repeat", 3, "repeats, each on a fresh process")
	if err := fset.Parse(args); err != nil {
		return 2
	}
	size, err := parseSize(*sizeFlag)
	if err == nil && (*count < 1 || *conc < 1 || *repeat < 1 || size < 16 || size > 1<<20 || *settle < time.Second) {
		err = errors.New("-count, -concurrency and -repeat must be at least 1, -size within 16B..1MiB, -settle at least 1s")
	}
	if err == nil {
		err = burstMain(context.Background(), burstRun{bin: *bin, count: *count,
			conc: *conc, size: size, settle: *settle, repeat: *repeat})
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mrbench burst: %v\n", err)
		return 1
	}
	return 0
}

// burstRun is the settings of one `mrbench burst`.
type burstRun struct {
	bin         string
	count, conc int
	size        int64
	settle      time.Duration
	repeat      int
}

// burstMarks are the moments after the burst at which VmRSS is read.
var burstMarks = []time.Duration{0, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second}

func burstMain(ctx context.Context, b burstRun) error {
	dir, err := os.MkdirTemp("", "mrbench-burst-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	fmt.Printf(`mrbench burst: %d uploads of %s at concurrency %d into a fresh mediarepo (filesystem store), then RSS followed for %s
conditions: embedded NATS JetStream (sync_interval always), scan.workers 0 (no scans run), static token;
  fresh = VmRSS 2 s after one small upload into the new process; peak = VmHWM during the burst;
  %d repeats, each on a fresh process; MiB = 2^20 bytes; load average before: %s
`, b.count, formatSize(b.size), b.conc, b.settle, b.repeat, strings.TrimSpace(loadavg()))
	figs := figures{}
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i*31 + i>>9)
	}
	for i := range b.repeat {
		if err := b.once(ctx, filepath.Join(dir, fmt.Sprint(i)), newContent(block), figs); err != nil {
			return err
		}
	}
	fmt.Printf("\nRSS, MiB, median (min-max) over %d fresh processes:\n", b.repeat)
	fmt.Printf("  fresh %s, peak %s\n", one(figs.get("fresh")), one(figs.get("peak")))
	for _, m := range burstMarks {
		if m <= b.settle {
			fmt.Printf("  %2.0f s after the burst: %s (fresh +%s)\n", m.Seconds(), one(figs.get(fmt.Sprint("at ", m))), one(figs.get(fmt.Sprint("over ", m))))
		}
	}
	last := figs.get(fmt.Sprint("over ", b.settle))
	fmt.Printf("goal: %-58s %-22s goal %-14s %s\n",
		fmt.Sprintf("RSS %s after %d × %s uploads, minus fresh (issue 18)", b.settle, b.count, formatSize(b.size)),
		fmt.Sprintf("%s MiB", one(last)), fmt.Sprintf("≤ %d MiB", goalBurstMiB), verdict(slices.Max(last) <= goalBurstMiB))
	fmt.Printf("(the goal is judged on the worst repeat; load average after: %s)\n", strings.TrimSpace(loadavg()))
	return nil
}

// once runs one burst on a fresh process and records its figures.
func (b burstRun) once(ctx context.Context, dir string, c *content, figs figures) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	in, err := startInstance(ctx, instanceOptions{name: "burst", bin: b.bin, dir: dir, backend: "fs", maxUpload: 1 << 30})
	if err != nil {
		return err
	}
	defer in.stop()
	api := newAPIClient(in, b.conc)
	if _, err := api.upload(ctx, bytes.NewReader(c.small(b.size)), b.size); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	fresh, err := in.rssKB("VmRSS")
	if err != nil {
		return err
	}
	freshAnon, err := in.rssKB("RssAnon")
	if err != nil {
		return err
	}
	if err := in.resetPeak(); err != nil {
		return err
	}
	res, err := concurrently(ctx, b.count, b.conc, func(ctx context.Context) error {
		_, err := api.upload(ctx, bytes.NewReader(c.small(b.size)), b.size)
		return err
	})
	if err != nil {
		return err
	}
	api.http.CloseIdleConnections() // the clients of a burst go away
	end := time.Now()
	peak, err := in.rssKB("VmHWM")
	if err != nil {
		return err
	}
	mib := func(kb int64) float64 { return float64(kb) / 1024 }
	figs.add("fresh", mib(fresh))
	figs.add("peak", mib(peak))
	line := fmt.Sprintf("  fresh %5.1f MiB, burst %4.0f uploads/s, peak %5.1f MiB;", mib(fresh), res.perSecond, mib(peak))
	for _, m := range burstMarks {
		if m > b.settle {
			break
		}
		time.Sleep(time.Until(end.Add(m)))
		rss, err := in.rssKB("VmRSS")
		if err != nil {
			return err
		}
		figs.add(fmt.Sprint("at ", m), mib(rss))
		figs.add(fmt.Sprint("over ", m), mib(rss-fresh))
		line += fmt.Sprintf(" %.0fs %.1f", m.Seconds(), mib(rss))
	}
	if !slices.Contains(burstMarks, b.settle) {
		time.Sleep(time.Until(end.Add(b.settle)))
		rss, err := in.rssKB("VmRSS")
		if err != nil {
			return err
		}
		figs.add(fmt.Sprint("over ", b.settle), mib(rss-fresh))
		line += fmt.Sprintf(" %s %.1f", b.settle, mib(rss))
	}
	anon, err := in.rssKB("RssAnon")
	if err != nil {
		return err
	}
	fmt.Printf("%s; of the growth, anonymous memory %+.1f MiB (the rest is file pages: code, data files)\n", line, mib(anon-freshAnon))
	return nil
}
