package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

// runUploads measures small uploads through the built mediarepo on the
// filesystem store with each catalog backend, in the same run: KV (the
// embedded default, JetStream with sync_interval always) and PostgreSQL
// (synchronous_commit on, the server's default), at the same concurrency,
// with the same job queue (JetStream, sync_interval always). No scan
// worker runs; uploads are timed without waiting for verdicts.
func runUploads(args []string) int {
	fs := flag.NewFlagSet("mrbench uploads", flag.ContinueOnError)
	bin := fs.String("bin", "bin/mediarepo", "the mediarepo binary")
	pgURL := fs.String("postgres", os.Getenv("MEDIAREPO_TEST_POSTGRES_URL"), "superuser URL of a PostgreSQL; a fresh database is created in it and dropped afterwards")
	count := fs.Int("count", 2000, "uploads per repeat")
	size := fs.String("size", "10KB", "upload size")
	conc := fs.Int("concurrency", 16, "uploads in flight")
	repeat := fs.Int("repeat", 3, "repeats per backend (interleaved)")
	diagSync := fs.String("diag-sync", "2m", "also run PostgreSQL with this nats.sync_interval, to show what the job publish's fsync costs (empty: skip)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	n, err := parseSize(*size)
	if err == nil && (*pgURL == "" || *count < 1 || *conc < 1 || *repeat < 1 || n < 16) {
		err = errors.New("-postgres (or MEDIAREPO_TEST_POSTGRES_URL), -count, -concurrency, -repeat ≥ 1 and -size ≥ 16B are required")
	}
	if err == nil {
		err = uploadsBench(context.Background(), *bin, *pgURL, *diagSync, *count, *conc, *repeat, n)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mrbench uploads:", err)
		return 1
	}
	return 0
}

func uploadsBench(ctx context.Context, bin, pgURL, diagSync string, count, conc, repeat int, size int64) error {
	dir, err := os.MkdirTemp("", "mrbench-uploads-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dsn, drop, err := freshDatabase(ctx, pgURL)
	if err != nil {
		return err
	}
	defer drop()
	var syncCommit string
	if err := queryOne(ctx, dsn, "SHOW synchronous_commit", &syncCommit); err != nil {
		return err
	}
	base := instanceOptions{bin: bin, backend: "fs", maxUpload: 16 << 20}
	kv, pg := base, base
	kv.name, kv.dir = "fs+kv", filepath.Join(dir, "kv")
	pg.name, pg.dir, pg.catalogDSN = "fs+postgres", filepath.Join(dir, "pg"), dsn
	opts := []instanceOptions{kv, pg}
	if diagSync != "" {
		// A second database: the two PostgreSQL instances do not share rows.
		dsn2, drop2, err := freshDatabase(ctx, pgURL)
		if err != nil {
			return err
		}
		defer drop2()
		diag := pg
		diag.name, diag.dir, diag.catalogDSN, diag.syncInterval = "fs+pg,jobs "+diagSync, filepath.Join(dir, "diag"), dsn2, diagSync
		opts = append(opts, diag)
	}
	var insts []*instance
	for _, o := range opts {
		if err := os.MkdirAll(o.dir, 0o700); err != nil {
			return err
		}
		in, err := startInstance(ctx, o)
		if err != nil {
			return fmt.Errorf("%s: %w", o.name, err)
		}
		defer in.stop()
		insts = append(insts, in)
	}
	fmt.Printf("small uploads: %d × %s at concurrency %d, filesystem store, no scan workers, job queue JetStream (sync_interval always); "+
		"catalog KV (JetStream, sync_interval always) vs PostgreSQL (synchronous_commit=%s); %d interleaved repeats\n",
		count, formatSize(size), conc, syncCommit, repeat)
	block := make([]byte, size)
	_, _ = rand.Read(block) // crypto/rand.Read never fails (Go ≥ 1.24)
	c := newContent(block)
	type fig struct{ rates, p50s, p99s []float64 }
	figs := map[string]*fig{}
	for i := range repeat {
		for _, in := range insts {
			cl := newAPIClient(in, conc)
			up := func(ctx context.Context) error {
				_, err := cl.upload(ctx, bytes.NewReader(c.small(size)), size)
				return err
			}
			if i == 0 {
				if _, err := concurrently(ctx, 4*conc, conc, up); err != nil {
					return fmt.Errorf("%s warm-up: %w (log %s)", in.name, err, in.logTail())
				}
			}
			res, err := concurrently(ctx, count, conc, up)
			if err != nil {
				return fmt.Errorf("%s: %w (log %s)", in.name, err, in.logTail())
			}
			fmt.Printf("  repeat %d %-18s %7.0f uploads/s  p50 %6.1f ms  p99 %6.1f ms\n", i+1, in.name, res.perSecond, ms(res.p50), ms(res.p99))
			f := figs[in.name]
			if f == nil {
				f = &fig{}
				figs[in.name] = f
			}
			f.rates, f.p50s, f.p99s = append(f.rates, res.perSecond), append(f.p50s, ms(res.p50)), append(f.p99s, ms(res.p99))
		}
	}
	fmt.Println("\n| catalog | uploads/s (min–max) | p50 ms | p99 ms (min–max) |\n|---|---|---|---|")
	for _, in := range insts {
		f := figs[in.name]
		fmt.Printf("| %s | %.0f–%.0f | %.1f–%.1f | %.1f–%.1f |\n", in.name, minOf(f.rates), maxOf(f.rates), minOf(f.p50s), maxOf(f.p50s), minOf(f.p99s), maxOf(f.p99s))
	}
	fmt.Println("goal (issue 13 item 6): PostgreSQL ≥ 800 uploads/s with p99 < 50 ms")
	if diagSync != "" {
		fmt.Printf("(fs+pg,jobs %s: diagnostic only, the job queue's JetStream fsyncs every %s instead of every write: shows what the job publish costs)\n", diagSync, diagSync)
	}
	return nil
}

func minOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// freshDatabase creates a database in the PostgreSQL at admin and returns
// its URL and a function that drops it.
func freshDatabase(ctx context.Context, admin string) (string, func(), error) {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	name := "mrbench_" + hex.EncodeToString(b[:])
	if err := execOne(ctx, admin, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		if err := execOne(context.Background(), admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "mrbench: dropping", name, err)
		}
	}
	return u.String(), drop, nil
}

func execOne(ctx context.Context, dsn, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

func queryOne(ctx context.Context, dsn, sql string, dst any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	return conn.QueryRow(ctx, sql).Scan(dst)
}
