package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// uploadABFlags are the settings of `mrbench uploadab`.
type uploadABFlags struct {
	abFlags
	postgres string
	kv       bool
}

func runUploadAB(args []string) int {
	fs := flag.NewFlagSet("mrbench uploadab", flag.ContinueOnError)
	var f uploadABFlags
	f.register(fs, "uploads")
	fs.StringVar(&f.postgres, "postgres", os.Getenv("MEDIAREPO_TEST_POSTGRES_URL"),
		"superuser URL of a PostgreSQL: every binary is also timed with the PostgreSQL catalog, on a fresh database each (empty: skip)")
	fs.BoolVar(&f.kv, "kv", true, "time every binary with the KV catalog too")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := uploadABMain(f); err != nil {
		fmt.Fprintf(os.Stderr, "mrbench uploadab: %v\n", err)
		return 1
	}
	return 0
}

// uploadABMain compares the upload paths of several mediarepo binaries on
// S3 (with the KV and/or the PostgreSQL catalog) with raw minio-go PUTs,
// interleaved round by round like downloadab, so that a machine whose
// load changes during the run affects every target alike. Instances run
// without scan workers (jobs are published, never scanned), as in
// `mrbench http`.
func uploadABMain(f uploadABFlags) error {
	small, large, err := f.parse()
	if err != nil {
		return err
	}
	if !f.kv && f.postgres == "" {
		return errors.New("nothing to time: -kv=false and no -postgres")
	}
	ctx := context.Background()
	raw, dir, done, err := f.conn.newRunWithDir(ctx, "mrbench-uploadab-")
	if err != nil {
		return err
	}
	defer done()
	body := newContent(raw.block)
	rawSmall := func(ctx context.Context) error {
		b := body.small(small)
		_, err := raw.raw.PutObject(ctx, raw.cfg.Bucket, fmt.Sprintf("small/%x", b[:16]), bytes.NewReader(b), small, raw.opts)
		return err
	}
	n := 0
	targets := []*abTarget{{name: "raw", small: rawSmall, figs: figures{},
		large: func(ctx context.Context) error { n++; return raw.rawPut(ctx, fmt.Sprintf("large/%d", n), large) }}}
	for i, bin := range strings.Split(f.bins, ",") {
		var catalogs []string
		if f.kv {
			catalogs = append(catalogs, "kv")
		}
		if f.postgres != "" {
			catalogs = append(catalogs, "pg")
		}
		for _, cat := range catalogs {
			name := fmt.Sprintf("bin%d-%s", i+1, cat)
			d := filepath.Join(dir, name)
			if err := os.MkdirAll(d, 0o700); err != nil {
				return err
			}
			o := instanceOptions{name: name, bin: bin, dir: d, backend: "s3", s3: f.conn, clamd: f.clamd, maxUpload: 1 << 30}
			if cat == "pg" {
				dsn, drop, err := freshDatabase(ctx, f.postgres)
				if err != nil {
					return err
				}
				defer drop()
				o.catalogDSN = dsn
			}
			in, err := startInstance(ctx, o)
			if err != nil {
				return err
			}
			defer in.stop()
			c := newAPIClient(in, f.conc)
			fmt.Printf("%s = %s\n", name, bin)
			targets = append(targets, &abTarget{name: name, figs: figures{},
				small: func(ctx context.Context) error {
					_, err := c.upload(ctx, bytes.NewReader(body.small(small)), small)
					return err
				},
				large: func(ctx context.Context) error {
					_, err := c.upload(ctx, body.large(large), large)
					return err
				}})
		}
	}
	fmt.Print("mrbench uploadab: ")
	return runAB(ctx, targets, f.rounds, f.count, f.conc, small, large, "uploads")
}
