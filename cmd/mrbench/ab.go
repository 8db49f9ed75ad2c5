package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"
)

// abFlags are the settings every interleaved comparison (downloadab,
// uploadab) shares.
type abFlags struct {
	conn      s3Flags
	bin       string
	bins      string
	clamd     string
	rounds    int
	smallSize string
	largeSize string
	conc      int
	count     int
}

// register registers the flags on fs; what names the requests
// ("downloads", "uploads").
func (f *abFlags) register(fs *flag.FlagSet, what string) {
	registerInstanceFlags(fs, &f.conn, &f.bin, &f.clamd)
	fs.StringVar(&f.bins, "bins", "", "comma-separated mediarepo binaries to compare (default: -bin alone)")
	fs.IntVar(&f.rounds, "rounds", 5, "rounds; each times raw and every binary in turn")
	fs.StringVar(&f.smallSize, "small-size", "10KB", "size of the small "+what+" at concurrency")
	fs.StringVar(&f.largeSize, "large-size", "1MB", "size of the "+what+" one at a time")
	fs.IntVar(&f.conc, "small-concurrency", 16, "small "+what+" in flight")
	fs.IntVar(&f.count, "small-count", 1000, "small "+what+" per round and target")
}

// parse checks the flags after fs.Parse and returns the two sizes.
func (f *abFlags) parse() (small, large int64, err error) {
	if f.bins == "" {
		f.bins = f.bin
	}
	if small, err = parseSize(f.smallSize); err != nil {
		return 0, 0, err
	}
	if large, err = parseSize(f.largeSize); err != nil {
		return 0, 0, err
	}
	if f.rounds < 1 || f.count < 1 || f.conc < 1 {
		return 0, 0, errors.New("-rounds, -small-count and -small-concurrency must be at least 1")
	}
	return small, large, nil
}

// abTarget is one thing timed per round: raw minio-go or one binary.
type abTarget struct {
	name         string
	small, large func(context.Context) error
	figs         figures
}

// runAB times the targets round by round: per round and target, count
// small requests at concurrency conc, then max(1, 64MB/large) large ones
// one at a time, each with the CPU time per request (cpuacct.go); then
// the medians with their ratios to raw (targets[0]) of the same rounds.
func runAB(ctx context.Context, targets []*abTarget, rounds, count, conc int, small, large int64, what string) error {
	batch := int(max(1, batchBytes/large))
	fmt.Printf("%d rounds of %s; per round and target %d × %s at concurrency %d, then %d × %s one at a time; load average %s",
		rounds, what, count, formatSize(small), conc, batch, formatSize(large), loadavg())
	for _, t := range targets { // warm-up
		if _, err := concurrently(ctx, 2*conc, conc, t.small); err != nil {
			return fmt.Errorf("warm-up %s: %w", t.name, err)
		}
		if err := t.large(ctx); err != nil {
			return fmt.Errorf("warm-up %s: %w", t.name, err)
		}
	}
	for round := range rounds {
		fmt.Printf("round %d, load average %s", round+1, loadavg())
		for _, t := range roundOrder(targets, round) {
			var res loadResult
			cpu, err := accountCPU(count, func() (err error) {
				res, err = concurrently(ctx, count, conc, t.small)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			t.figs.add("small rate", res.perSecond)
			t.figs.add("small p99", ms(res.p99))
			fmt.Printf("  %-8s %s c%d %6.0f/s p50 %5.1f ms p99 %5.1f ms  %s\n", t.name, formatSize(small), conc,
				res.perSecond, ms(res.p50), ms(res.p99), cpu)
			start := time.Now()
			cpu, err = accountCPU(batch, func() error {
				for range batch {
					if err := t.large(ctx); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			rate := float64(large*int64(batch)) / 1e6 / time.Since(start).Seconds()
			t.figs.add("large rate", rate)
			fmt.Printf("  %-8s %s c1 %6.0f MB/s  %s; CPU s/GB of load+MinIO+mediarepo %.2f\n", t.name, formatSize(large), rate,
				cpu, cpu.known()/1e3/(float64(large)/1e9))
		}
	}
	fmt.Printf("\nmedians (min-max) over %d rounds; ratio to raw of the same round\n", rounds)
	base := targets[0].figs
	for _, t := range targets {
		fmt.Printf("  %-8s %s c%d %s/s (ratio %s), p99 %s ms; %s c1 %s MB/s (ratio %s)\n", t.name, formatSize(small), conc,
			t.figs.get("small rate"), ratioRange(t.figs.get("small rate"), base.get("small rate")), t.figs.get("small p99"),
			formatSize(large), t.figs.get("large rate"), ratioRange(t.figs.get("large rate"), base.get("large rate")))
	}
	return nil
}

// roundOrder is the order of the targets in one round: raw first, then
// the binaries rotated by the round, so that each follows raw and each
// follows another binary equally often over a multiple of their number of
// rounds (a target timed right after a heavy one may pay for what MinIO
// and PostgreSQL still flush from it).
func roundOrder(targets []*abTarget, round int) []*abTarget {
	rest := targets[1:]
	if len(rest) == 0 {
		return targets
	}
	k := round % len(rest)
	return append(append([]*abTarget{targets[0]}, rest[k:]...), rest[:k]...)
}
