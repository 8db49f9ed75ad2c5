package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestEncryptedScansRunConcurrently: a scan worker answers encrypted
// scans over core NATS with as many scans at once as scan.workers, not one
// after the other. The fake clamd holds every stream until all the
// expected ones are in flight (the real clamd cannot be held on cue).
func TestEncryptedScansRunConcurrently(t *testing.T) {
	const n = 4
	fake := testenv.StartFakeClamd(t, clamav27000)
	f := newFixture(t, newClamd(t, fake.Addr()), nil, Options{Concurrency: n})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ServeEncrypted(ctx, f.nc, f.w, testLogger(t)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})

	type item struct {
		rec  media.Record
		file e2ee.EncryptedFile
	}
	items := make([]item, n)
	for i := range items {
		ciphertext, file, err := e2ee.EncryptAttachment(testenv.Random(16<<10), "mxc://"+origin+"/x")
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := f.upload(ciphertext)
		items[i] = item{rec, file}
	}
	client := EncryptedClient{NC: f.nc, Timeout: 30 * time.Second}
	fake.Hold()
	defer fake.Release()
	var wg sync.WaitGroup
	verdicts := make([]media.Verdict, n)
	errs := make([]error, n)
	for i, it := range items {
		wg.Go(func() { verdicts[i], errs[i] = client.ScanEncrypted(context.Background(), it.rec, it.file) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for fake.Held() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	held := fake.Held()
	fake.Release()
	wg.Wait()
	if held < n {
		t.Fatalf("%d encrypted scans ran at once, want %d (scan.workers)", held, n)
	}
	for i := range items {
		if errs[i] != nil || verdicts[i].Result != media.ResultClean {
			t.Errorf("request %d: %+v %v", i, verdicts[i], errs[i])
		}
	}
}
