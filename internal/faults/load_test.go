package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

// item is one upload of the load: what was sent, what the proxy answered
// and what the downloads saw.
type item struct {
	infected bool
	body     []byte
	status   int // upload answer
	mediaID  string
	acked    time.Time

	mu       sync.Mutex
	decided  time.Time // first definitive download answer (200 clean, 403 infected)
	verdict  int       // that answer's status
	badBytes bool      // a 200 whose body differed from what was uploaded
}

// load uploads clean text files and EICAR variants through the proxy and
// downloads every acknowledged upload while it runs.
type load struct {
	base   string
	client *http.Client

	mu    sync.Mutex
	items []*item

	statuses   sync.Map // "upload 503" / "download 504" → *atomic.Int64
	samples    sync.Map // "upload 403" → the first such answer's body (for the log)
	noRetry    atomic.Int64
	infectious atomic.Int64 // bytes of infected uploads that were served: must stay 0
}

func newLoad(base string) *load {
	return &load{base: base, client: &http.Client{Timeout: 90 * time.Second}}
}

func (l *load) count(kind string, status int) {
	v, _ := l.statuses.LoadOrStore(fmt.Sprintf("%s %d", kind, status), new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// payload returns a clean text file (printable, so it is never taken for
// ciphertext, with a fixed first line) or EICAR followed by unique text
// (a fresh hash every time, so each one goes through a scan instead of the
// hash block).
func payload(rng *rand.Rand, infected bool) []byte {
	var b bytes.Buffer
	if infected {
		b.Write(testenv.EICAR())
		b.WriteString("\n")
	} else {
		// Random letters could begin with a magic number ("MZ", an
		// executable, was refused 403 by the type policy twice).
		b.WriteString("load test file\n")
	}
	n := 1024 + rng.IntN(32*1024)
	const letters = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\n"
	for b.Len() < n {
		b.WriteByte(letters[rng.IntN(len(letters))])
	}
	return b.Bytes()
}

// run uploads with uploaders goroutines and downloads with downloaders
// until ctx ends.
func (l *load) run(ctx context.Context, uploaders, downloaders int, infectedShare float64) {
	var wg sync.WaitGroup
	for i := range uploaders {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				l.uploadOne(ctx, payload(rng, rng.Float64() < infectedShare))
			}
		}(uint64(i))
	}
	for i := range downloaders {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			for ctx.Err() == nil {
				it := l.pick(rng)
				if it == nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				l.download(ctx, it, 2*time.Second)
			}
		}(uint64(100 + i))
	}
	wg.Wait()
}

func (l *load) uploadOne(ctx context.Context, body []byte) {
	it := &item{infected: bytes.HasPrefix(body, testenv.EICAR()), body: body}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/_matrix/media/v3/upload?filename=load.txt", bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer load-token")
	req.Header.Set("Content-Type", "text/plain")
	resp, err := l.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			l.count("upload", 0)
		}
		return
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	it.status = resp.StatusCode
	l.count("upload", resp.StatusCode)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		l.samples.LoadOrStore(fmt.Sprintf("upload %d", resp.StatusCode), string(raw))
	}
	l.checkRetryAfter(resp)
	if resp.StatusCode != http.StatusOK {
		return
	}
	var answer struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil || !strings.HasPrefix(answer.ContentURI, "mxc://localhost/") {
		it.status = -1
		return
	}
	it.mediaID = strings.TrimPrefix(answer.ContentURI, "mxc://localhost/")
	it.acked = time.Now()
	l.mu.Lock()
	l.items = append(l.items, it)
	l.mu.Unlock()
}

// checkRetryAfter counts 503s without Retry-After (a fault may cause 503s,
// but they must tell the client when to come back).
func (l *load) checkRetryAfter(resp *http.Response) {
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		l.noRetry.Add(1)
	}
}

// pick returns an undecided item, preferring recent ones.
func (l *load) pick(rng *rand.Rand) *item {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.items) == 0 {
		return nil
	}
	for range 8 {
		n := len(l.items)
		it := l.items[n-1-rng.IntN(min(n, 64))]
		it.mu.Lock()
		open := it.decided.IsZero()
		it.mu.Unlock()
		if open || rng.IntN(8) == 0 {
			return it
		}
	}
	return l.items[rng.IntN(len(l.items))]
}

// download fetches it once (waiting up to wait for its verdict) and
// records what it saw. An infected upload answered 200 is the one thing
// that must never happen.
func (l *load) download(ctx context.Context, it *item, wait time.Duration) int {
	url := fmt.Sprintf("%s/_matrix/client/v1/media/download/localhost/%s?timeout_ms=%d", l.base, it.mediaID, wait.Milliseconds())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer load-token")
	resp, err := l.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			l.count("download", 0)
		}
		return 0
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(resp.Body)
	l.count("download", resp.StatusCode)
	l.checkRetryAfter(resp)
	now := time.Now()
	it.mu.Lock()
	defer it.mu.Unlock()
	switch resp.StatusCode {
	case http.StatusOK:
		if it.infected {
			l.infectious.Add(int64(len(body)))
		}
		if rerr != nil || !bytes.Equal(body, it.body) {
			it.badBytes = rerr == nil // a cut connection is not a wrong answer
		}
		if it.decided.IsZero() && rerr == nil {
			it.decided, it.verdict = now, resp.StatusCode
		}
	case http.StatusForbidden:
		if it.decided.IsZero() {
			it.decided, it.verdict = now, resp.StatusCode
		}
	}
	return resp.StatusCode
}

// acknowledged returns the uploads answered 200.
func (l *load) acknowledged() []*item {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*item(nil), l.items...)
}
