package postgres

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// BenchmarkUploadCatalog measures what one upload of new content costs the
// PostgreSQL catalog (synchronous_commit as the server has it: on by
// default): the intent before the blob put, then RecordUpload (blob
// record, media record and the intent's removal in one statement), with
// 16 in flight (8 per core on 2 cores), as the upload path does.
func BenchmarkUploadCatalog(b *testing.B) {
	c := newTestCatalog(b, Options{})
	var n atomic.Int64
	at := time.Now()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			id := fmt.Sprintf("b%d", i)
			key := "media/" + id
			sha := fmt.Sprintf("%064x", i)
			if err := c.PutIntent(b.Context(), catalog.Intent{BlobKey: key, Origin: "example.org", ID: id, CreatedAt: at}); err != nil {
				b.Fatal(err)
			}
			rec := media.NewPending("example.org", id, "@alice:example.org", at, media.Content{Size: 10240, SHA256: sha, BlobKey: key, DeclaredType: "image/png", Filename: strings.Repeat("x", 20)})
			if _, err := c.RecordUpload(b.Context(), catalog.Upload{Record: rec, At: at, Intent: key}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
