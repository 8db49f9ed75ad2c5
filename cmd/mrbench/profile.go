package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// profileFlags are the settings of `mrbench profile`.
type profileFlags struct {
	conn      s3Flags
	bin       string
	clamd     string
	out       string
	seconds   int
	conc      int
	smallSize string
	largeSize string
	postgres  string
}

func runProfile(args []string) int {
	fs := flag.NewFlagSet("mrbench profile", flag.ContinueOnError)
	var f profileFlags
	registerInstanceFlags(fs, &f.conn, &f.bin, &f.clamd)
	fs.StringVar(&f.out, "out", "", "directory for the profiles (default: a new one under the temp dir)")
	fs.IntVar(&f.seconds, "seconds", 15, "length of each profiled load")
	fs.IntVar(&f.conc, "small-concurrency", 16, "requests in flight for the small media")
	fs.StringVar(&f.smallSize, "small-size", "10KB", "size of the small media")
	fs.StringVar(&f.largeSize, "large-size", "1MB", "size of the media uploaded and downloaded one at a time")
	fs.StringVar(&f.postgres, "postgres", os.Getenv("MEDIAREPO_TEST_POSTGRES_URL"),
		"superuser URL of a PostgreSQL: also profile small uploads on S3 with the PostgreSQL catalog (empty: skip)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := profileMain(f); err != nil {
		fmt.Fprintf(os.Stderr, "mrbench profile: %v\n", err)
		return 1
	}
	return 0
}

// scenario is one profiled load on one instance, beside its raw minio-go
// baseline (nil when it has none).
type scenario struct {
	name string
	in   *instance
	conc int
	load func(context.Context) error
	raw  func(context.Context) error
}

// profileMain runs each scenario against a mediarepo on S3 with
// /debug/pprof on, for -seconds each, taking a CPU profile over the whole
// load, allocation profiles before and after it, goroutine profiles ten
// times a second (merged, they show where requests spend wall time,
// including time off the CPU) and the blob store's operation counts.
func profileMain(f profileFlags) error {
	small, err := parseSize(f.smallSize)
	if err != nil {
		return err
	}
	large, err := parseSize(f.largeSize)
	if err != nil {
		return err
	}
	if f.out == "" {
		if f.out, err = os.MkdirTemp("", "mrbench-profile-"); err != nil {
			return err
		}
	}
	ctx := context.Background()
	raw, dir, done, err := f.conn.newRunWithDir(ctx, "mrbench-profile-data-")
	if err != nil {
		return err
	}
	defer done()
	start := func(name string, clean bool, dsn string) (*instance, error) {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		return startInstance(ctx, instanceOptions{name: name, bin: f.bin, dir: d, backend: "s3", s3: f.conn,
			clamd: f.clamd, devMarkClean: clean, maxUpload: 1 << 30, pprof: true, catalogDSN: dsn})
	}
	up, err := start("upload", false, "")
	if err != nil {
		return err
	}
	defer up.stop()
	down, err := start("download", true, "")
	if err != nil {
		return err
	}
	defer down.stop()
	body := newContent(raw.block)
	upc, downc := newAPIClient(up, f.conc), newAPIClient(down, f.conc)
	scenarios, err := profileScenarios(ctx, f, raw, body, up, down, upc, downc, small, large)
	if err != nil {
		return err
	}
	if f.postgres != "" {
		dsn, drop, err := freshDatabase(ctx, f.postgres)
		if err != nil {
			return err
		}
		defer drop()
		pg, err := start("upload-pg", false, dsn)
		if err != nil {
			return err
		}
		defer pg.stop()
		pgc := newAPIClient(pg, f.conc)
		put := scenarios[0]
		put.name, put.in = put.name+"-postgres", pg
		put.load = func(ctx context.Context) error {
			_, err := pgc.upload(ctx, bytes.NewReader(body.small(small)), small)
			return err
		}
		scenarios = append([]scenario{put}, scenarios...)
	}
	fmt.Printf("mrbench profile: mediarepo on S3 %s (bucket %s), %d s per scenario, profiles in %s\n",
		f.conn.endpoint, f.conn.bucket, f.seconds, f.out)
	fmt.Printf("machine load average at the start: %s", loadavg())
	for _, s := range scenarios {
		if err := profileScenario(ctx, f, s); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	fmt.Printf("\nread them with, e.g.:\n  go tool pprof -top -cum %[1]s/NAME.cpu.pb.gz\n"+
		"  go tool pprof -top -sample_index=alloc_space -base %[1]s/NAME.allocs-before.pb.gz %[1]s/NAME.allocs-after.pb.gz\n"+
		"  go tool pprof -top -cum -focus=ServeHTTP %[1]s/NAME.goroutines-*.pb.gz   (wall time by stack)\n", f.out)
	return nil
}

// profileScenarios stores what the downloads read (untimed) and returns
// the scenarios.
func profileScenarios(ctx context.Context, f profileFlags, raw *bench, body *content, up, down *instance,
	upc, downc *apiClient, small, large int64) ([]scenario, error) {
	const setSize = 256
	apiSmall, err := storeSmallAPI(ctx, downc, body, setSize, small, f.conc)
	if err != nil {
		return nil, err
	}
	rawSmall, err := storeSmallRaw(ctx, raw, body, "profile-small", setSize, small, f.conc)
	if err != nil {
		return nil, err
	}
	largeMXC, err := downc.upload(ctx, body.large(large), large)
	if err != nil {
		return nil, err
	}
	if err := raw.rawPut(ctx, "profile-large", large); err != nil {
		return nil, err
	}
	photoMXC, err := uploadPhoto(ctx, downc, body)
	if err != nil {
		return nil, err
	}
	if _, err := downc.thumbnail(ctx, photoMXC, 320, 240); err != nil { // generated and cached, untimed
		return nil, err
	}
	smallName, largeName := formatSize(small), formatSize(large)
	return []scenario{
		{name: "upload-" + smallName, in: up, conc: f.conc,
			load: func(ctx context.Context) error {
				_, err := upc.upload(ctx, bytes.NewReader(body.small(small)), small)
				return err
			},
			raw: func(ctx context.Context) error {
				b := body.small(small)
				_, err := raw.raw.PutObject(ctx, raw.cfg.Bucket, fmt.Sprintf("profile-put/%x", b[:16]), bytes.NewReader(b), small, raw.opts)
				return err
			}},
		{name: "download-" + smallName, in: down, conc: f.conc, load: apiSmall.apiGets(downc, small), raw: rawSmall.rawGets(raw, small)},
		{name: "upload-" + largeName, in: up, conc: 1,
			load: func(ctx context.Context) error {
				_, err := upc.upload(ctx, body.large(large), large)
				return err
			},
			raw: func(ctx context.Context) error { return raw.rawPut(ctx, "profile-large-put", large) }},
		{name: "download-" + largeName, in: down, conc: 1,
			load: func(ctx context.Context) error {
				return sized(large, func() (int64, error) { return downc.download(ctx, largeMXC) })()
			},
			raw: func(ctx context.Context) error {
				return sized(large, func() (int64, error) { return raw.rawGet(ctx, "profile-large") })()
			}},
		{name: "thumbnail-cached", in: down, conc: f.conc, load: func(ctx context.Context) error {
			_, err := downc.thumbnail(ctx, photoMXC, 320, 240)
			return err
		}},
	}, nil
}

// profileScenario measures the raw baseline (when there is one), then
// the profiled load.
func profileScenario(ctx context.Context, f profileFlags, s scenario) error {
	d := time.Duration(f.seconds) * time.Second
	fmt.Printf("\n== %s, concurrency %d, load average %s", s.name, s.conc, loadavg())
	if s.raw != nil {
		c0, cerr := sampleCPU()
		res, err := forDuration(ctx, d, s.conc, s.raw)
		if err != nil {
			return fmt.Errorf("raw baseline: %w", err)
		}
		fmt.Printf("  raw minio-go  %7.1f/s  p50 %6.2f ms  p99 %6.2f ms\n    %s\n", res.perSecond, ms(res.p50), ms(res.p99), cpuSince(c0, cerr, res.n))
	}
	base := filepath.Join(f.out, s.name)
	before, err := storeOps(ctx, s.in)
	if err != nil {
		return err
	}
	if err := saveURL(ctx, s.in.admin+"/debug/pprof/allocs", base+".allocs-before.pb.gz"); err != nil {
		return err
	}
	var wg sync.WaitGroup
	var cpuErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		cpuErr = saveURL(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.in.admin, f.seconds), base+".cpu.pb.gz")
	}()
	sctx, stop := context.WithCancel(ctx)
	var samples atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
				n := samples.Add(1)
				if err := saveURL(sctx, s.in.admin+"/debug/pprof/goroutine", fmt.Sprintf("%s.goroutines-%03d.pb.gz", base, n)); err != nil && sctx.Err() == nil {
					fmt.Printf("  goroutine sample: %v\n", err)
				}
			}
		}
	}()
	c0, cerr := sampleCPU()
	res, err := forDuration(ctx, d, s.conc, s.load)
	cpu := cpuSince(c0, cerr, res.n)
	stop()
	wg.Wait()
	if err != nil {
		return err
	}
	if cpuErr != nil {
		return cpuErr
	}
	if err := saveURL(ctx, s.in.admin+"/debug/pprof/allocs", base+".allocs-after.pb.gz"); err != nil {
		return err
	}
	after, err := storeOps(ctx, s.in)
	if err != nil {
		return err
	}
	fmt.Printf("  mediarepo     %7.1f/s  p50 %6.2f ms  p99 %6.2f ms  (%d requests, %d goroutine samples)\n",
		res.perSecond, ms(res.p50), ms(res.p99), res.n, samples.Load())
	fmt.Printf("    %s (mediarepo's includes the profiling)\n", cpu)
	var ops []string
	for op, v := range after {
		if dv := v - before[op]; dv > 0 {
			ops = append(ops, fmt.Sprintf("%s %.2f", op, dv/float64(res.n)))
		}
	}
	slices.Sort(ops)
	fmt.Printf("  blob store operations per request: %s\n", strings.Join(ops, ", "))
	return nil
}

// cpuSince is the CPU per request of n requests since sample a (taken
// with error aerr); a failed /proc read costs the accounting only.
func cpuSince(a cpuSample, aerr error, n int) cpuPerRequest {
	b, berr := sampleCPU()
	if aerr != nil || berr != nil {
		return cpuPerRequest{}
	}
	return perRequest(a, b, n)
}

// timedResult is a load run for a fixed time.
type timedResult struct {
	loadResult
	n int
}

// forDuration calls fn from conc goroutines for d and measures the
// calls' rate and latency percentiles. The first error stops the run.
func forDuration(ctx context.Context, d time.Duration, conc int, fn func(context.Context) error) (timedResult, error) {
	var (
		mu       sync.Mutex
		firstErr error
		all      []time.Duration
		wg       sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for time.Now().Before(end) {
				t := time.Now()
				if err := fn(ctx); err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return timedResult{}, firstErr
	}
	elapsed := time.Since(start)
	slices.Sort(all)
	return timedResult{n: len(all), loadResult: loadResult{perSecond: float64(len(all)) / elapsed.Seconds(),
		p50: percentile(all, 0.50), p99: percentile(all, 0.99)}}, nil
}

// saveURL writes the body of a GET to path.
func saveURL(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, resp.Body)
	return errors.Join(err, out.Close())
}

// storeOps reads mediarepo_store_operations_total by operation.
func storeOps(ctx context.Context, in *instance) (map[string]float64, error) {
	lines, err := in.metricsLines(ctx)
	if err != nil {
		return nil, err
	}
	ops := map[string]float64{}
	for _, text := range lines {
		line, ok := strings.CutPrefix(text, "mediarepo_store_operations_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(line, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", text, err)
		}
		ops[labels] = v
	}
	return ops, nil
}

// loadavg is the first three fields of /proc/loadavg and a newline.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown\n"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ") + "\n"
}
