package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mediarepo/mediarepo/internal/config"
)

// httpFlags are the settings of `mrbench http`.
type httpFlags struct {
	conn                s3Flags
	bin, clamd          string
	repeat              int
	smallCount          int
	smallSize           string
	smallConc           int
	sizes, fsSize       string
	rssSize, rssPerConc string
	rssConc             int
	diagSync            string
	postgres            string
	pin                 bool
}

func runHTTP(args []string) int {
	fs := flag.NewFlagSet("mrbench http", flag.ContinueOnError)
	var f httpFlags
	registerInstanceFlags(fs, &f.conn, &f.bin, &f.clamd)
	fs.IntVar(&f.repeat, "repeat", 3, "repeats of every figure")
	fs.IntVar(&f.smallCount, "small-count", 2000, "small uploads per repeat")
	fs.StringVar(&f.smallSize, "small-size", "10KB", "size of the small uploads")
	fs.IntVar(&f.smallConc, "small-concurrency", 16, "small uploads in flight")
	fs.StringVar(&f.sizes, "sizes", "1MB,256MB", "sizes of the large uploads and downloads (S3 vs raw, and fs)")
	fs.StringVar(&f.fsSize, "fs-size", "100MiB", "size compared with matrix-media-repo on the filesystem store")
	fs.StringVar(&f.rssSize, "rss-size", "1GB", "one upload whose peak RSS growth is measured")
	fs.IntVar(&f.rssConc, "rss-concurrency", 64, "concurrent uploads whose peak RSS is measured")
	fs.StringVar(&f.rssPerConc, "rss-concurrent-size", "16MB", "size of each of the concurrent uploads")
	fs.StringVar(&f.diagSync, "diag-sync", "2m", "also time small uploads on fs with this nats.sync_interval, to show what fsync costs (empty: skip)")
	fs.StringVar(&f.postgres, "postgres", os.Getenv("MEDIAREPO_TEST_POSTGRES_URL"),
		"superuser URL of a PostgreSQL: uploads are also timed on S3 with the PostgreSQL catalog, the production path (empty: skip)")
	fs.BoolVar(&f.pin, "pin", false,
		"diagnostic: run MinIO and PostgreSQL on CPU 0 and the load generator and mediarepo on the other CPUs, as production runs the storage apart")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := httpMain(f); err != nil {
		fmt.Fprintf(os.Stderr, "mrbench http: %v\n", err)
		return 1
	}
	return 0
}

// registerInstanceFlags registers the flags of the mediarepo instances a
// command starts: S3 connection with mediarepo's own default upload
// settings (not the store command's), binary and clamd.
func registerInstanceFlags(fs *flag.FlagSet, conn *s3Flags, bin, clamd *string) {
	conn.register(fs)
	def := config.Default().Storage.S3
	conn.partSize, conn.concurrency = formatSize(int64(def.PartSize)), uint(def.Concurrency)
	fs.StringVar(bin, "bin", "bin/mediarepo", "the mediarepo binary (go build -o bin/ ./cmd/mediarepo)")
	fs.StringVar(clamd, "clamd", os.Getenv("MEDIAREPO_TEST_CLAMD_ADDR"), "scan.clamd of the instances (no worker scans during the timing)")
}

// httpRun is one `mrbench http` run: its settings, the raw minio-go
// baseline on a fresh bucket, and the figures collected.
type httpRun struct {
	f                    httpFlags
	cfg                  httpSizes
	raw                  *bench
	dir                  string
	figs                 figures
	upContent, dlContent *content
}

// httpSizes are the parsed size flags.
type httpSizes struct {
	small, fs, rss, rssEach int64
	large                   []int64
}

func (f httpFlags) parse() (httpSizes, error) {
	var s httpSizes
	var err error
	for _, p := range []struct {
		dst *int64
		src string
	}{{&s.small, f.smallSize}, {&s.fs, f.fsSize}, {&s.rss, f.rssSize}, {&s.rssEach, f.rssPerConc}} {
		if *p.dst, err = parseSize(p.src); err != nil {
			return s, err
		}
	}
	if s.large, err = parseSizes(f.sizes); err != nil {
		return s, err
	}
	if f.repeat < 1 || f.smallCount < 1 || f.smallConc < 1 || f.rssConc < 1 {
		return s, errors.New("-repeat, -small-count, -small-concurrency and -rss-concurrency must be at least 1")
	}
	if s.small < 16 || s.small > 1<<20 {
		return s, errors.New("-small-size must be within 16B..1MiB")
	}
	return s, nil
}

func httpMain(f httpFlags) error {
	sizes, err := f.parse()
	if err != nil {
		return err
	}
	ctx := context.Background()
	raw, err := f.conn.newRunBench(ctx)
	if err != nil {
		return err
	}
	defer raw.cleanup(ctx, true)
	dir, err := os.MkdirTemp("", "mrbench-http-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	run := &httpRun{f: f, cfg: sizes, raw: raw, dir: dir, figs: figures{},
		upContent: newContent(raw.block), dlContent: newContent(raw.block)}
	run.printConditions()
	if f.pin {
		restore, desc, err := pinCores()
		if err != nil {
			return err
		}
		defer restore()
		fmt.Println("  - " + desc)
	}
	start := time.Now()
	if err := run.uploads(ctx); err != nil {
		return err
	}
	if err := run.downloads(ctx); err != nil {
		return err
	}
	if err := run.smallMedia(ctx); err != nil {
		return err
	}
	if err := run.memory(ctx); err != nil {
		return err
	}
	run.report()
	fmt.Printf("mrbench http took %s\n", time.Since(start).Round(time.Second))
	return nil
}

// newRunBench connects the raw and sealed clients of one run, to the
// bucket of the flags or, when none is given, to a fresh one whose name
// it records in the flags.
func (f *s3Flags) newRunBench(ctx context.Context) (*bench, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, err
	}
	if cfg.Bucket == "" {
		if cfg.Bucket, err = newBucketName(); err != nil {
			return nil, err
		}
		f.bucket = cfg.Bucket
	}
	return newBench(ctx, cfg)
}

// newRunWithDir is newRunBench with a fresh temporary directory for the
// run's instances; done removes both.
func (f *s3Flags) newRunWithDir(ctx context.Context, prefix string) (raw *bench, dir string, done func(), err error) {
	if raw, err = f.newRunBench(ctx); err != nil {
		return nil, "", nil, err
	}
	if dir, err = os.MkdirTemp("", prefix); err != nil {
		raw.cleanup(ctx, true)
		return nil, "", nil, err
	}
	return raw, dir, func() {
		_ = os.RemoveAll(dir)
		raw.cleanup(ctx, true)
	}, nil
}

// newBucketName is a fresh bucket name for one run.
func newBucketName() (string, error) {
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("mrbench-%x", suffix), nil
}

func (r *httpRun) printConditions() {
	f := r.f
	fmt.Printf(`mrbench http: the mediarepo binary %s against MinIO %s (bucket %s) and the filesystem store in %s
conditions:
  - every instance: embedded NATS JetStream with nats.sync_interval "always" (the default: an fsync per write),
    static development token (auth outside the timing), per-user rate limits raised to 1e6/s,
    S3 part size %s × %d parts in parallel (mediarepo's default config; the raw minio-go baseline uses the same options),
    the JetStream KV catalog (the embedded default) except "S3+PostgreSQL": catalog.backend postgres, the production
    path, on a fresh database of the test PostgreSQL (with -postgres)
  - uploads are timed WITHOUT waiting for verdicts: scan.workers 0, scan.clamd %q configured; each upload
    still publishes its scan job to JetStream before it is answered; no scan runs during the timing
  - downloads come from instances with scan.dev_mark_clean (uploads marked clean at once, untimed): the serving
    path is that of clean media; the test clamd (StreamMaxLength 100 MiB) could not scan 256 MB
  - the load generator is this process, on the same 2 cores, Go net/http with keep-alive
  - %d repeats, interleaved (raw, S3, fs): median (min-max); MB = 10^6 bytes
`, f.bin, f.conn.endpoint, f.conn.bucket, r.dir, f.conn.partSize, f.conn.concurrency, f.clamd, f.repeat)
}

// instance starts a mediarepo of the run.
func (r *httpRun) instance(ctx context.Context, name, backend string, devMarkClean bool, sync string) (*instance, error) {
	dir := filepath.Join(r.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	maxUpload := max(r.cfg.rss, r.cfg.rssEach, r.cfg.fs, r.cfg.small)
	for _, s := range r.cfg.large {
		maxUpload = max(maxUpload, s)
	}
	if maxUpload > config.MaxScannableSize {
		return nil, fmt.Errorf("uploads of %s exceed what ClamAV (and so mediarepo) accepts", formatSize(maxUpload))
	}
	maxUpload = max(maxUpload, 1<<30) // 1 GiB: the cap is a round figure
	return startInstance(ctx, instanceOptions{name: name, bin: r.f.bin, dir: dir, backend: backend,
		s3: r.f.conn, clamd: r.f.clamd, devMarkClean: devMarkClean, maxUpload: maxUpload, syncInterval: sync})
}

// pair starts one instance on S3 and one on the filesystem store.
func (r *httpRun) pair(ctx context.Context, phase string, devMarkClean bool) (s3i, fsi *instance, err error) {
	if s3i, err = r.instance(ctx, phase+"-s3", "s3", devMarkClean, ""); err != nil {
		return nil, nil, err
	}
	if fsi, err = r.instance(ctx, phase+"-fs", "fs", devMarkClean, ""); err != nil {
		s3i.stop()
		return nil, nil, err
	}
	return s3i, fsi, nil
}

// uploads measures small uploads at concurrency and large uploads one at
// a time, raw minio-go PUT, mediarepo on S3 and on fs interleaved.
func (r *httpRun) uploads(ctx context.Context) error {
	s3i, fsi, err := r.pair(ctx, "upload", false)
	if err != nil {
		return err
	}
	defer s3i.stop()
	defer fsi.stop()
	conc := r.f.smallConc
	s3c, fsc := newAPIClient(s3i, conc), newAPIClient(fsi, conc)
	small := r.cfg.small
	rawPut := func(ctx context.Context) error {
		body := r.upContent.small(small)
		key := fmt.Sprintf("small/%x", body[:16])
		_, err := r.raw.raw.PutObject(ctx, r.raw.cfg.Bucket, key, bytes.NewReader(body), small, r.raw.opts)
		return err
	}
	apiPut := func(c *apiClient) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.upload(ctx, bytes.NewReader(r.upContent.small(small)), small)
			return err
		}
	}
	targets := []struct {
		name string
		fn   func(context.Context) error
	}{{"raw", rawPut}, {"s3", apiPut(s3c)}, {"fs", apiPut(fsc)}}
	pgc, stopPG, err := r.productionUploads(ctx)
	if err != nil {
		return err
	}
	defer stopPG()
	if pgc != nil {
		targets = append(targets, struct {
			name string
			fn   func(context.Context) error
		}{"s3-pg", apiPut(pgc)})
	}
	if r.f.diagSync != "" {
		diag, err := r.instance(ctx, "upload-fs-sync", "fs", false, r.f.diagSync)
		if err != nil {
			return err
		}
		defer diag.stop()
		targets = append(targets, struct {
			name string
			fn   func(context.Context) error
		}{"fs-sync", apiPut(newAPIClient(diag, conc))})
	}
	fmt.Printf("\nuploads (measurements as they come; tables below): warm-up, then %d × %s at concurrency %d per repeat; large ones one at a time\n",
		r.f.smallCount, formatSize(small), conc)
	for _, t := range targets { // warm-up: connections, buckets, JetStream streams
		if _, err := concurrently(ctx, 4*conc, conc, t.fn); err != nil {
			return fmt.Errorf("warm-up %s: %w", t.name, err)
		}
	}
	for i := range r.f.repeat {
		for _, t := range targets {
			var res loadResult
			cpu, err := accountCPU(r.f.smallCount, func() (err error) {
				res, err = concurrently(ctx, r.f.smallCount, conc, t.fn)
				return err
			})
			if err != nil {
				return fmt.Errorf("small uploads %s: %w", t.name, err)
			}
			fmt.Printf("  repeat %d, %s uploads, %-7s %5.0f/s  p50 %6.1f ms  p99 %6.1f ms\n      %s\n",
				i+1, formatSize(small), t.name, res.perSecond, ms(res.p50), ms(res.p99), cpu)
			r.figs.add("cpu small "+t.name, cpu.known())
			r.figs.add("small "+t.name+" rate", res.perSecond)
			r.figs.add("small "+t.name+" p50", ms(res.p50))
			r.figs.add("small "+t.name+" p99", ms(res.p99))
		}
		for _, size := range r.cfg.large {
			if err := r.largeUploads(ctx, size, s3c, fsc); err != nil {
				return err
			}
			if pgc != nil {
				if err := r.timeUpload(ctx, "s3-pg", size, pgc); err != nil {
					return err
				}
			}
		}
		if !r.isLarge(r.cfg.fs) {
			if err := r.timeUpload(ctx, "fs", r.cfg.fs, fsc); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *httpRun) largeUploads(ctx context.Context, size int64, s3c, fsc *apiClient) error {
	if err := r.timeBatch("PUT", "raw", size, func() error {
		return r.raw.rawPut(ctx, fmt.Sprintf("raw/%d", size), size)
	}); err != nil {
		return err
	}
	if err := r.timeUpload(ctx, "s3", size, s3c); err != nil {
		return err
	}
	return r.timeUpload(ctx, "fs", size, fsc)
}

func (r *httpRun) timeUpload(ctx context.Context, target string, size int64, c *apiClient) error {
	return r.timeBatch("PUT", target, size, func() error {
		_, err := c.upload(ctx, r.upContent.large(size), size)
		return err
	})
}

// timeBatch records the MB/s of max(1, 64MB/size) sequential calls of
// one (as in the store command) under "OP SIZE TARGET".
func (r *httpRun) timeBatch(op, target string, size int64, one func() error) error {
	batch := max(1, batchBytes/size)
	start := time.Now()
	cpu, err := accountCPU(int(batch), func() error {
		for range batch {
			if err := one(); err != nil {
				return fmt.Errorf("%s %s of %s: %w", target, op, formatSize(size), err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rate := float64(size*batch) / 1e6 / time.Since(start).Seconds()
	r.figs.add(fmt.Sprintf("%s %d %s", op, size, target), rate)
	r.figs.add(fmt.Sprintf("cpu %s %d %s", op, size, target), cpu.known())
	fmt.Printf("  %s %s %-5s %6.0f MB/s   %s\n", formatSize(size), op, target, rate, cpu)
	return nil
}

// sized fails a read that did not return size bytes.
func sized(size int64, read func() (int64, error)) func() error {
	return func() error {
		n, err := read()
		if err == nil && n != size {
			err = fmt.Errorf("read %d bytes, want %d", n, size)
		}
		return err
	}
}

// download is one object of the download phase.
type download struct {
	target string
	size   int64
	c      *apiClient
	mxc    string
}

// downloads measures GETs of clean media next to raw minio-go GETs of the
// objects the upload phase wrote.
func (r *httpRun) downloads(ctx context.Context) error {
	s3i, fsi, err := r.pair(ctx, "download", true)
	if err != nil {
		return err
	}
	defer s3i.stop()
	defer fsi.stop()
	fmt.Printf("\ndownloads: one object per size and backend, stored untimed, then read\n")
	s3c, fsc := newAPIClient(s3i, 1), newAPIClient(fsi, 1)
	var objects []*download
	for _, size := range r.cfg.large {
		objects = append(objects, &download{target: "s3", size: size, c: s3c}, &download{target: "fs", size: size, c: fsc})
	}
	if !r.isLarge(r.cfg.fs) {
		objects = append(objects, &download{target: "fs", size: r.cfg.fs, c: fsc})
	}
	for _, o := range objects {
		if o.mxc, err = o.c.upload(ctx, r.dlContent.large(o.size), o.size); err != nil {
			return fmt.Errorf("storing the %s download of %s: %w", o.target, formatSize(o.size), err)
		}
	}
	for range r.f.repeat {
		for _, size := range r.cfg.large {
			if err := r.timeBatch("GET", "raw", size, sized(size, func() (int64, error) {
				return r.raw.rawGet(ctx, fmt.Sprintf("raw/%d", size))
			})); err != nil {
				return err
			}
			for _, o := range objects {
				if o.size == size {
					if err := r.timeDownload(ctx, o); err != nil {
						return err
					}
				}
			}
		}
		if last := objects[len(objects)-1]; !r.isLarge(last.size) {
			if err := r.timeDownload(ctx, last); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *httpRun) timeDownload(ctx context.Context, o *download) error {
	return r.timeBatch("GET", o.target, o.size, sized(o.size, func() (int64, error) { return o.c.download(ctx, o.mxc) }))
}

func (r *httpRun) isLarge(size int64) bool { return slices.Contains(r.cfg.large, size) }

// memory measures the peak RSS growth of mediarepo processes: per repeat
// and backend, a fresh process takes one large upload ("one", the goal's
// figure) and then a second one ("again": what the first left resident
// counts too); another fresh process takes many concurrent uploads. The
// peak (VmHWM) is reset before each measurement; growth is the peak minus
// the fresh process's VmRSS after one small upload.
func (r *httpRun) memory(ctx context.Context) error {
	fmt.Printf("\nmemory: fresh upload instances; VmHWM reset (clear_refs) before each measurement\n")
	large, each := r.cfg.rss, r.cfg.rssEach
	one := func(c *apiClient) func() error {
		return func() error {
			_, err := c.upload(ctx, r.upContent.large(large), large)
			return err
		}
	}
	many := func(c *apiClient) func() error {
		return func() error {
			_, err := concurrently(ctx, r.f.rssConc, r.f.rssConc, func(ctx context.Context) error {
				_, err := c.upload(ctx, r.upContent.large(each), each)
				return err
			})
			return err
		}
	}
	for range r.f.repeat {
		for _, backend := range []string{"s3", "fs"} {
			if err := r.freshMemory(ctx, backend, func(m *memProbe) error {
				if err := m.measure("one", one(m.c)); err != nil {
					return err
				}
				return m.measure("again", one(m.c))
			}); err != nil {
				return err
			}
			if err := r.freshMemory(ctx, backend, func(m *memProbe) error { return m.measure("many", many(m.c)) }); err != nil {
				return err
			}
			if backend == "s3" {
				if err := r.freshMemory(ctx, backend, func(m *memProbe) error { return m.measure("slow", r.slowUploads(ctx, m.c)) }); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// slowUploads sends rss-concurrency uploads of unknown size at once, each
// trickling at 256 KB/s for 4 s (the stalled clients): the memory
// budget must bound what they hold; the ones past it answer 429.
func (r *httpRun) slowUploads(ctx context.Context, c *apiClient) func() error {
	return func() error {
		var ok, limited atomic.Int64
		_, err := concurrently(ctx, r.f.rssConc, r.f.rssConc, func(ctx context.Context) error {
			body := &trickleReader{r: r.upContent.large(1 << 20), left: 1 << 20}
			_, err := c.upload(ctx, body, -1)
			switch {
			case err == nil:
				ok.Add(1)
			case strings.Contains(err.Error(), "429"):
				limited.Add(1)
			default:
				return err
			}
			return nil
		})
		fmt.Printf("  s3 slow: %d slow uploads of unknown size at once: %d stored, %d refused 429 (memory budget)\n",
			r.f.rssConc, ok.Load(), limited.Load())
		return err
	}
}

// trickleReader yields 64 KiB every 250 ms.
type trickleReader struct {
	r    io.Reader
	left int64
}

func (t *trickleReader) Read(p []byte) (int, error) {
	if t.left <= 0 {
		return 0, io.EOF
	}
	time.Sleep(250 * time.Millisecond)
	n, err := t.r.Read(p[:min(int64(len(p)), 64<<10, t.left)])
	t.left -= int64(n)
	return n, err
}

// memProbe measures one fresh instance's memory.
type memProbe struct {
	r       *httpRun
	in      *instance
	c       *apiClient
	backend string
	before  int64 // VmRSS in kB after one small upload
}

// freshMemory starts a fresh instance, takes its baseline and runs fn on
// it, then stops it and frees its disk.
func (r *httpRun) freshMemory(ctx context.Context, backend string, fn func(*memProbe) error) error {
	name := "memory-" + backend
	in, err := r.instance(ctx, name, backend, false, "")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(filepath.Join(r.dir, name)) }() // free the disk for the next one
	defer in.stop()
	m := &memProbe{r: r, in: in, c: newAPIClient(in, r.f.rssConc), backend: backend}
	if _, err := m.c.upload(ctx, bytes.NewReader(r.upContent.small(r.cfg.small)), r.cfg.small); err != nil {
		return fmt.Errorf("memory warm-up on %s: %w", backend, err)
	}
	if m.before, err = in.rssKB("VmRSS"); err != nil {
		return err
	}
	r.figs.add("rss baseline "+backend, float64(m.before*1024)/1e6)
	return fn(m)
}

func (m *memProbe) measure(name string, fn func() error) error {
	if err := m.in.resetPeak(); err != nil {
		return err
	}
	if err := fn(); err != nil {
		return fmt.Errorf("%s on %s: %w", name, m.backend, err)
	}
	peak, err := m.in.rssKB("VmHWM")
	if err != nil {
		return err
	}
	peakMB, growMB := float64(peak*1024)/1e6, float64((peak-m.before)*1024)/1e6
	m.r.figs.add(fmt.Sprintf("rss %s %s growth", name, m.backend), growMB)
	m.r.figs.add(fmt.Sprintf("rss %s %s peak", name, m.backend), peakMB)
	fmt.Printf("  %s %-5s peak RSS %4.0f MB, growth %4.0f MB\n", m.backend, name, peakMB, growMB)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// figures are the repeats of every measurement of a run, by name.
type figures map[string]rates

func (f figures) add(name string, v float64) { f[name] = append(f[name], v) }

// get returns the repeats of name; names are fixed in this file, so a
// missing one is a programming error.
func (f figures) get(name string) rates {
	v, ok := f[name]
	if !ok {
		panic("mrbench http: no figure " + strings.TrimSpace(name))
	}
	return v
}
