package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func runDownloadAB(args []string) int {
	fs := flag.NewFlagSet("mrbench downloadab", flag.ContinueOnError)
	var f abFlags
	f.register(fs, "downloads")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := downloadABMain(f); err != nil {
		fmt.Fprintf(os.Stderr, "mrbench downloadab: %v\n", err)
		return 1
	}
	return 0
}

// downloadABMain compares the download paths of several mediarepo
// binaries on S3 with raw minio-go GETs, interleaved round by round so
// that a machine whose load changes during the run (other work on the
// same cores) affects every target alike: per round, small media at
// concurrency and large media one at a time, each with the CPU time per
// request of the load generator, MinIO and mediarepo (cpuacct.go: the
// instances not under load idle meanwhile).
func downloadABMain(f abFlags) error {
	small, large, err := f.parse()
	if err != nil {
		return err
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
	fmt.Print("mrbench downloadab: ")
	return runAB(ctx, targets, f.rounds, f.count, f.conc, small, large, "downloads")
}

// withCtx adapts a timed call to the signature of a load function.
func withCtx(fn func() error) func(context.Context) error {
	return func(context.Context) error { return fn() }
}
