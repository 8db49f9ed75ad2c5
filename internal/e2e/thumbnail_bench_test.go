package e2e

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"net/http"
	"testing"
	"time"
)

// jpeg12MP encodes a 4000×3000 picture (smooth gradients with a seed, so
// each call is unique content for clamd's cache).
func jpeg12MP(b *testing.B, seed int) []byte {
	img := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	for y := 0; y < 3000; y++ {
		for x := 0; x < 4000; x++ {
			img.Y[y*img.YStride+x] = uint8((x*7 + y*3 + seed*13) / 16)
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = uint8(i+seed), uint8(i/3)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkThumbnail12MPHTTP measures thumbnails of a 12-megapixel JPEG
// through the running binary (S3 store, sealed): the first request of an
// image (decode, scale, encode, seal, store) and cached requests. Scanning
// happens before the timing (the media is clean when timed).
func BenchmarkThumbnail12MPHTTP(b *testing.B) {
	hs := newHomeserver(b, users())
	in := start(b, newSetup(b, hs))
	cli := in.client(b, alice, aliceToken)
	ctx := context.Background()
	get := func(id string) time.Duration {
		start := time.Now()
		req, _ := http.NewRequest("GET", in.URL+"/_matrix/client/v1/media/thumbnail/example.org/"+id+"?width=320&height=240&timeout_ms=60000", nil)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("thumbnail: %d %s", resp.StatusCode, body.String())
		}
		return time.Since(start)
	}
	var first time.Duration
	var id string
	const firsts = 3
	for i := 0; i < firsts; i++ {
		up, err := cli.UploadBytes(ctx, jpeg12MP(b, i+int(time.Now().UnixNano()%1000)), "image/jpeg")
		if err != nil {
			b.Fatal(err)
		}
		id = up.ContentURI.FileID
		// wait for the clean verdict outside the timing
		dl, err := cli.Download(ctx, up.ContentURI)
		if err != nil {
			b.Fatal(err)
		}
		dl.Body.Close()
		first += get(id)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		get(id)
	}
	b.StopTimer()
	b.ReportMetric(float64(first.Milliseconds())/firsts, "first_ms")
	b.ReportMetric(float64(firsts)/first.Seconds(), "first_thumbs/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cached_thumbs/s")
}
