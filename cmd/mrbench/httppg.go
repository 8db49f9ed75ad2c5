package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// productionUploads starts the upload instance of the production path:
// S3 with the PostgreSQL catalog (design §5a), on a fresh database. It
// returns a nil client when -postgres is empty, and a function that stops
// the instance and drops the database.
func (r *httpRun) productionUploads(ctx context.Context) (*apiClient, func(), error) {
	if r.f.postgres == "" {
		return nil, func() {}, nil
	}
	dsn, drop, err := freshDatabase(ctx, r.f.postgres)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(r.dir, "upload-s3-pg")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		drop()
		return nil, nil, err
	}
	in, err := startInstance(ctx, instanceOptions{name: "upload-s3-pg", bin: r.f.bin, dir: dir, backend: "s3",
		s3: r.f.conn, clamd: r.f.clamd, maxUpload: 1 << 30, catalogDSN: dsn})
	if err != nil {
		drop()
		return nil, nil, err
	}
	return newAPIClient(in, r.f.smallConc), func() { in.stop(); drop() }, nil
}

// productionGoals prints the goal lines of the production path's uploads
// (nothing when they were not measured).
func (r *httpRun) productionGoals(line func(what, value, goal string, ok bool)) {
	g := r.figs
	pg, ok := g["small s3-pg rate"]
	if !ok {
		return
	}
	raw := g.get("small raw rate")
	line(fmt.Sprintf("%s uploads/s, S3+PostgreSQL catalog / raw PUT", formatSize(r.cfg.small)), ratioRange(pg, raw),
		fmt.Sprintf("≥ %.1f", goalRatio), ratio(pg, raw) >= goalRatio)
	fmt.Printf("figure: %s uploads on S3 with the PostgreSQL catalog: %.0f/s, p50 %.1f ms, p99 %.1f ms\n", formatSize(r.cfg.small),
		pg.median(), g.get("small s3-pg p50").median(), g.get("small s3-pg p99").median())
	for _, size := range r.cfg.large {
		key := fmt.Sprintf("PUT %d ", size)
		q := ratio(g.get(key+"s3-pg"), g.get(key+"raw"))
		line(fmt.Sprintf("%s PUT MB/s, S3+PostgreSQL catalog / raw minio-go", formatSize(size)),
			ratioRange(g.get(key+"s3-pg"), g.get(key+"raw")), fmt.Sprintf("≥ %.1f", goalRatio), q >= goalRatio)
	}
}
