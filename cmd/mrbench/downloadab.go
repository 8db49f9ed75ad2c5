package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// downloadABFlags are the settings of `mrbench downloadab`.
type downloadABFlags struct {
	conn      s3Flags
	bins      string
	clamd     string
	rounds    int
	smallSize string
	largeSize string
	conc      int
	count     int
}

func runDownloadAB(args []string) int {
	fs := flag.NewFlagSet("mrbench downloadab", flag.ContinueOnError)
	var f downloadABFlags
	var bin string
	registerInstanceFlags(fs, &f.conn, &bin, &f.clamd)
	fs.StringVar(&f.bins, "bins", "", "comma-separated mediarepo binaries to compare (default: -bin alone)")
	fs.IntVar(&f.rounds, "rounds", 5, "rounds; each times raw and every binary in turn")
	fs.StringVar(&f.smallSize, "small-size", "10KB", "size of the small media read at concurrency")
	fs.StringVar(&f.largeSize, "large-size", "1MB", "size of the media read one at a time")
	fs.IntVar(&f.conc, "small-concurrency", 16, "small downloads in flight")
	fs.IntVar(&f.count, "small-count", 1000, "small downloads per round and target")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if f.bins == "" {
		f.bins = bin
	}
	if err := downloadABMain(f); err != nil {
		fmt.Fprintf(os.Stderr, "mrbench downloadab: %v\n", err)
		return 1
	}
	return 0
}

// abTarget is one thing timed per round: raw minio-go or one binary.
type abTarget struct {
	name         string
	small, large func(context.Context) error
	figs         figures
}

// downloadABMain compares the download paths of several mediarepo
// binaries on S3 with raw minio-go GETs, interleaved round by round so
// that a machine whose load changes during the run (other work on the
// same cores) affects every target alike: per round, small media at
// concurrency and large media one at a time, each with the CPU time per
// request of the load generator, MinIO and mediarepo (cpuacct.go: the
// instances not under load idle meanwhile).
func downloadABMain(f downloadABFlags) error {
	small, err := parseSize(f.smallSize)
	if err != nil {
		return err
	}
	large, err := parseSize(f.largeSize)
	if err != nil {
		return err
	}
	if f.rounds < 1 || f.count < 1 || f.conc < 1 {
		return errors.New("-rounds, -small-count and -small-concurrency must be at least 1")
	}
	ctx := context.Background()
	raw, dir, done, err := f.conn.newRunWithDir(ctx, "mrbench-downloadab-")
	if err != nil {
		return err
	}
	defer done()
	body := newContent(raw.block)
	rawSet, err := storeSmallRaw(ctx, raw, body, "ab-small", smallSetSize, small, f.conc)
	if err != nil {
		return err
	}
	if err := raw.rawPut(ctx, "ab-large", large); err != nil {
		return err
	}
	targets := []*abTarget{{name: "raw", small: rawSet.rawGets(raw, small),
		large: withCtx(sized(large, func() (int64, error) { return raw.rawGet(ctx, "ab-large") })), figs: figures{}}}
	for i, bin := range strings.Split(f.bins, ",") {
		name := fmt.Sprintf("bin%d", i+1)
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		in, err := startInstance(ctx, instanceOptions{name: name, bin: bin, dir: d, backend: "s3", s3: f.conn,
			clamd: f.clamd, devMarkClean: true, maxUpload: 1 << 30})
		if err != nil {
			return err
		}
		defer in.stop()
		c := newAPIClient(in, f.conc)
		set, err := storeSmallAPI(ctx, c, body, smallSetSize, small, f.conc)
		if err != nil {
			return err
		}
		mxc, err := c.upload(ctx, body.large(large), large)
		if err != nil {
			return err
		}
		fmt.Printf("%s = %s\n", name, bin)
		targets = append(targets, &abTarget{name: name, small: set.apiGets(c, small),
			large: withCtx(sized(large, func() (int64, error) { return c.download(ctx, mxc) })), figs: figures{}})
	}
	batch := int(max(1, batchBytes/large))
	fmt.Printf("mrbench downloadab: %d rounds; per round and target %d × %s at concurrency %d, then %d × %s one at a time; load average %s",
		f.rounds, f.count, formatSize(small), f.conc, batch, formatSize(large), loadavg())
	for _, t := range targets { // warm-up
		if _, err := concurrently(ctx, 2*f.conc, f.conc, t.small); err != nil {
			return fmt.Errorf("warm-up %s: %w", t.name, err)
		}
		if err := t.large(ctx); err != nil {
			return fmt.Errorf("warm-up %s: %w", t.name, err)
		}
	}
	for round := range f.rounds {
		fmt.Printf("round %d, load average %s", round+1, loadavg())
		for _, t := range targets {
			var res loadResult
			cpu, err := accountCPU(f.count, func() (err error) {
				res, err = concurrently(ctx, f.count, f.conc, t.small)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			t.figs.add("small rate", res.perSecond)
			t.figs.add("small p99", ms(res.p99))
			fmt.Printf("  %-5s %s c%d %6.0f/s p50 %5.1f ms p99 %5.1f ms  %s\n", t.name, formatSize(small), f.conc,
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
			fmt.Printf("  %-5s %s c1 %6.0f MB/s  %s; CPU s/GB of load+MinIO+mediarepo %.2f\n", t.name, formatSize(large), rate,
				cpu, cpu.known()/1e3/(float64(large)/1e9))
		}
	}
	fmt.Printf("\nmedians (min-max) over %d rounds; ratio to raw of the same round\n", f.rounds)
	base := targets[0].figs
	for _, t := range targets {
		fmt.Printf("  %-5s %s c%d %s/s (ratio %s), p99 %s ms; %s c1 %s MB/s (ratio %s)\n", t.name, formatSize(small), f.conc,
			t.figs.get("small rate"), ratioRange(t.figs.get("small rate"), base.get("small rate")), t.figs.get("small p99"),
			formatSize(large), t.figs.get("large rate"), ratioRange(t.figs.get("large rate"), base.get("large rate")))
	}
	return nil
}

// withCtx adapts a timed call to the signature of a load function.
func withCtx(fn func() error) func(context.Context) error {
	return func(context.Context) error { return fn() }
}
