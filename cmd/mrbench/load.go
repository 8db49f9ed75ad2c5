package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// apiClient drives one mediarepo instance over its Matrix media API with
// the instance's development token.
type apiClient struct {
	http  *http.Client
	base  string
	token string
}

// newTransport is the client side of every HTTP measurement: keep-alive
// connections for up to conns requests in flight and 64 KiB socket
// buffers (net/http's 4 KiB default would make the client, not the
// server, the bottleneck of large bodies).
func newTransport(conns int) *http.Transport {
	return &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns,
		WriteBufferSize: 64 << 10, ReadBufferSize: 64 << 10,
		DisableCompression: true, IdleConnTimeout: time.Minute,
	}
}

func newAPIClient(in *instance, conns int) *apiClient {
	return &apiClient{http: &http.Client{Transport: newTransport(conns)}, base: in.url, token: in.token}
}

// upload POSTs size bytes of body and returns the content URI.
func (c *apiClient) upload(ctx context.Context, body io.Reader, size int64) (string, error) {
	return c.uploadTyped(ctx, body, size, "application/octet-stream")
}

// uploadTyped is upload with a declared content type.
func (c *apiClient) uploadTyped(ctx context.Context, body io.Reader, size int64, ctype string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/_matrix/media/v3/upload?filename=bench.bin", body)
	if err != nil {
		return "", err
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", ctype)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("upload: %s: %s", resp.Status, b)
	}
	var out struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(b, &out); err != nil || !strings.HasPrefix(out.ContentURI, "mxc://") {
		return "", fmt.Errorf("upload: answer %q has no content_uri", b)
	}
	return out.ContentURI, nil
}

// download GETs the media of an mxc:// URI and returns the bytes read,
// drained in 32 KiB reads like store's GETs.
func (c *apiClient) download(ctx context.Context, mxc string) (int64, error) {
	path, ok := strings.CutPrefix(mxc, "mxc://")
	if !ok {
		return 0, fmt.Errorf("download: %q is not an mxc:// URI", mxc)
	}
	return c.get(ctx, "/_matrix/client/v1/media/download/"+path)
}

// get GETs path with the token and drains the answer, which must be 200.
func (c *apiClient) get(ctx context.Context, path string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return 0, fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return drain(resp.Body)
}

// content makes upload bodies that are all different (mediarepo stores
// identical plaintext once, which would turn repeats into no-ops): a
// 16-byte prefix of a run nonce and a counter, then random bytes.
type content struct {
	nonce [8]byte
	next  atomic.Uint64
	block []byte
}

func newContent(block []byte) *content {
	c := &content{block: block}
	_, _ = rand.Read(c.nonce[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return c
}

func (c *content) prefix() []byte {
	var p [16]byte
	copy(p[:], c.nonce[:])
	binary.BigEndian.PutUint64(p[8:], c.next.Add(1))
	return p[:]
}

// small returns a unique body of size bytes (size ≤ len(block)) in memory.
func (c *content) small(size int64) []byte {
	b := slices.Clone(c.block[:size])
	copy(b, c.prefix())
	return b
}

// large returns a unique body of size bytes (size ≥ 16) that costs no
// memory growing with size.
func (c *content) large(size int64) io.Reader {
	return io.MultiReader(bytes.NewReader(c.prefix()), &repeatReader{block: c.block, left: size - 16})
}

// loadResult is one concurrent run: its throughput and latencies.
type loadResult struct {
	perSecond float64
	p50, p99  time.Duration
}

// concurrently calls fn n times from conc goroutines and measures the
// calls' rate and latency percentiles. The first error stops the run.
func concurrently(ctx context.Context, n, conc int, fn func(ctx context.Context) error) (loadResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	lat := make([][]time.Duration, conc)
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				t := time.Now()
				if err := fn(ctx); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return loadResult{}, firstErr
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	return loadResult{perSecond: float64(n) / elapsed.Seconds(),
		p50: percentile(all, 0.50), p99: percentile(all, 0.99)}, nil
}

// percentile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
