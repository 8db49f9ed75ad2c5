package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage/s3"
)

// s3Flags are the connection and upload settings shared by the store
// command and its child processes. Defaults come from the variables that
// scripts/testenv exports.
type s3Flags struct {
	endpoint, accessKey, secretKey, bucket string
	partSize                               string
	concurrency                            uint
}

func (f *s3Flags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.endpoint, "endpoint", os.Getenv("MEDIAREPO_TEST_S3_ENDPOINT"), "S3 endpoint host:port")
	fs.StringVar(&f.accessKey, "access-key", os.Getenv("MEDIAREPO_TEST_S3_ACCESS_KEY"), "S3 access key")
	fs.StringVar(&f.secretKey, "secret-key", os.Getenv("MEDIAREPO_TEST_S3_SECRET_KEY"), "S3 secret key")
	fs.StringVar(&f.bucket, "bucket", "", "bucket to use (default: a fresh one, removed afterwards)")
	fs.StringVar(&f.partSize, "part-size", "16MiB", "multipart part size")
	fs.UintVar(&f.concurrency, "concurrency", s3.DefaultConcurrency, "parts uploaded in parallel")
}

func (f *s3Flags) config() (s3.Config, error) {
	if f.endpoint == "" || f.accessKey == "" || f.secretKey == "" {
		return s3.Config{}, errors.New("no S3 endpoint or credentials: pass -endpoint, -access-key and -secret-key, or run `make bench`")
	}
	part, err := parseSize(f.partSize)
	if err != nil {
		return s3.Config{}, err
	}
	return s3.Config{
		Endpoint: f.endpoint, Bucket: f.bucket, AccessKey: f.accessKey, SecretKey: f.secretKey,
		PartSize: uint64(part), Concurrency: f.concurrency,
	}, nil
}

// bench holds both clients of one run: raw minio-go and our sealed store,
// on the same bucket with the same upload options.
type bench struct {
	cfg    s3.Config
	raw    *minio.Client
	opts   minio.PutObjectOptions
	sealed *sealed.Store
	block  []byte // random data that repeatReader cycles through
}

func newBench(ctx context.Context, cfg s3.Config) (*bench, error) {
	store, err := s3.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	raw, err := minio.New(cfg.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")})
	if err != nil {
		return nil, err
	}
	key := make([]byte, sealed.KeySize)
	block := make([]byte, 1<<20)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := rand.Read(block); err != nil {
		return nil, err
	}
	kr, err := sealed.NewKeyring("bench", map[string][]byte{"bench": key})
	if err != nil {
		return nil, err
	}
	return &bench{
		cfg: cfg, raw: raw, opts: s3.PutOptions(cfg.PartSize, cfg.Concurrency),
		sealed: sealed.New(store, kr), block: block,
	}, nil
}

func (b *bench) rawPut(ctx context.Context, key string, size int64) error {
	_, err := b.raw.PutObject(ctx, b.cfg.Bucket, key, &repeatReader{block: b.block, left: size}, size, b.opts)
	return err
}

func (b *bench) rawGet(ctx context.Context, key string) (int64, error) {
	body, _, _, err := minio.Core{Client: b.raw}.GetObject(ctx, b.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return 0, err
	}
	defer func() { _ = body.Close() }()
	return drain(body)
}

func (b *bench) sealedPut(ctx context.Context, key string, size int64) error {
	return b.sealed.Put(ctx, key, &repeatReader{block: b.block, left: size}, size)
}

func (b *bench) sealedGet(ctx context.Context, key string) (int64, error) {
	rc, err := b.sealed.Get(ctx, key, 0, -1)
	if err != nil {
		return 0, err
	}
	defer func() { _ = rc.Close() }()
	return drain(rc)
}

// drain reads r to the end in 32 KiB reads, as an HTTP handler copying
// to its ResponseWriter does (io.Discard's own ReadFrom would read in
// 8 KiB pieces and penalise the raw stream with syscalls).
func drain(r io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{io.Discard}, r, make([]byte, 32<<10))
}

// repeatReader yields left bytes cycling through block: data costs no
// CPU to produce and no memory that grows with the size.
type repeatReader struct {
	block []byte
	off   int
	left  int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := copy(p, r.block[r.off:])
	r.off = (r.off + n) % len(r.block)
	r.left -= int64(n)
	return n, nil
}

func runStore(args []string) int {
	fs := flag.NewFlagSet("mrbench store", flag.ContinueOnError)
	var conn s3Flags
	conn.register(fs)
	sizesFlag := fs.String("sizes", "1MB,256MB", "object sizes, comma-separated")
	repeat := fs.Int("repeat", 3, "repeats per size and operation")
	rssFlag := fs.String("rss-size", "1GB", "size of the upload whose peak RSS growth is measured (0: skip)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := storeMain(conn, *sizesFlag, *repeat, *rssFlag); err != nil {
		fmt.Fprintf(os.Stderr, "mrbench store: %v\n", err)
		return 1
	}
	return 0
}

func storeMain(conn s3Flags, sizesFlag string, repeat int, rssFlag string) error {
	sizes, err := parseSizes(sizesFlag)
	if err != nil {
		return err
	}
	rssSize, err := parseSize(rssFlag)
	if err != nil {
		return err
	}
	if repeat < 1 {
		return errors.New("-repeat must be at least 1")
	}
	cfg, err := conn.config()
	if err != nil {
		return err
	}
	created := cfg.Bucket == ""
	if created {
		if cfg.Bucket, err = newBucketName(); err != nil {
			return err
		}
		conn.bucket = cfg.Bucket
	}
	ctx := context.Background()
	b, err := newBench(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.cleanup(ctx, created)
	fmt.Printf("mrbench store: %s bucket %s, part size %s, concurrency %d, %d repeats (median, min-max; CPU: median)\n",
		cfg.Endpoint, cfg.Bucket, formatSize(int64(cfg.PartSize)), cfg.Concurrency, repeat)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "size\top\traw MB/s\tsealed MB/s\tsealed/raw\tclient CPU ms/MB raw\tsealed\t")
	for _, size := range sizes {
		res, err := b.measure(ctx, size, repeat)
		if err != nil {
			return err
		}
		for _, op := range []string{"PUT", "GET"} {
			raw, sl := res[op+" raw"], res[op+" sealed"]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t\n", formatSize(size), op, raw, sl, sl.median()/raw.median(),
				res[op+" raw cpu"].median(), res[op+" sealed cpu"].median())
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rssSize > 0 {
		for _, mode := range []string{"raw", "sealed", "sealed-unknown-size"} {
			grow, secs, err := childRSS(conn, mode, rssSize)
			if err != nil {
				return err
			}
			fmt.Printf("peak RSS growth, one %s %s upload: %.1f MB (%.0f MB/s)\n",
				mode, formatSize(rssSize), float64(grow)/1e6, float64(rssSize)/1e6/secs)
		}
	}
	return nil
}

// rates are MB/s figures of the repeats of one measurement.
type rates []float64

func (r rates) median() float64 {
	s := slices.Clone(r)
	slices.Sort(s)
	return s[len(s)/2]
}

func (r rates) String() string {
	return fmt.Sprintf("%.0f (%.0f-%.0f)", r.median(), slices.Min(r), slices.Max(r))
}

// batchBytes is the least volume one repeat moves: small objects are
// measured over a batch of sequential operations, not one latency.
const batchBytes = 64e6

// measure runs raw and sealed PUT and GET of one size, interleaved so
// machine noise hits both alike. One repeat of an operation is a batch of
// max(1, 64MB/size) sequential calls.
func (b *bench) measure(ctx context.Context, size int64, repeat int) (map[string]rates, error) {
	res := map[string]rates{}
	rawKey, sealedKey := fmt.Sprintf("raw/%d", size), fmt.Sprintf("sealed/%d", size)
	batch := max(1, batchBytes/size)
	timed := func(name string, fn func() error) error {
		start, cpuStart := time.Now(), cpuTime()
		for range batch {
			if err := fn(); err != nil {
				return fmt.Errorf("%s of %s: %w", name, formatSize(size), err)
			}
		}
		mb := float64(size*batch) / 1e6
		res[name] = append(res[name], mb/time.Since(start).Seconds())
		res[name+" cpu"] = append(res[name+" cpu"], (cpuTime()-cpuStart).Seconds()*1e3/mb)
		return nil
	}
	checkedGet := func(get func(context.Context, string) (int64, error), key string) func() error {
		return func() error {
			n, err := get(ctx, key)
			if err == nil && n != size {
				err = fmt.Errorf("read %d bytes, want %d", n, size)
			}
			return err
		}
	}
	for range repeat {
		steps := []struct {
			name string
			fn   func() error
		}{
			{"PUT raw", func() error { return b.rawPut(ctx, rawKey, size) }},
			{"PUT sealed", func() error { return b.sealedPut(ctx, sealedKey, size) }},
			{"GET raw", checkedGet(b.rawGet, rawKey)},
			{"GET sealed", checkedGet(b.sealedGet, sealedKey)},
		}
		for _, st := range steps {
			if err := timed(st.name, st.fn); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// cleanup removes the objects of the run and, if the run created it, the
// bucket.
func (b *bench) cleanup(ctx context.Context, dropBucket bool) {
	objects := b.raw.ListObjects(ctx, b.cfg.Bucket, minio.ListObjectsOptions{Recursive: true})
	for e := range b.raw.RemoveObjects(ctx, b.cfg.Bucket, objects, minio.RemoveObjectsOptions{}) {
		fmt.Fprintf(os.Stderr, "mrbench: remove %s: %v\n", e.ObjectName, e.Err)
	}
	if dropBucket {
		if err := b.raw.RemoveBucket(ctx, b.cfg.Bucket); err != nil {
			fmt.Fprintf(os.Stderr, "mrbench store: remove bucket %s: %v\n", b.cfg.Bucket, err)
		}
	}
}

// cpuTime is the user and system CPU time this process has used: the
// client's cost of an operation, less noisy than throughput on a shared
// machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
