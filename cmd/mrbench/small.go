package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"strings"
	"sync/atomic"
)

// smallSet is a set of small objects stored untimed and then read in
// turn, so that concurrent readers spread over many objects (as a
// scrolling timeline does) instead of hammering one.
type smallSet struct {
	keys []string // mxc:// URIs, or raw object keys
	next atomic.Uint64
}

// pick returns the next key in turn.
func (s *smallSet) pick() string { return s.keys[(s.next.Add(1)-1)%uint64(len(s.keys))] }

// storeSmallAPI uploads n unique objects of size bytes through c, conc at
// a time, and returns their content URIs.
func storeSmallAPI(ctx context.Context, c *apiClient, body *content, n int, size int64, conc int) (*smallSet, error) {
	s := &smallSet{keys: make([]string, n)}
	var i atomic.Int64
	_, err := concurrently(ctx, n, conc, func(ctx context.Context) error {
		mxc, err := c.upload(ctx, bytes.NewReader(body.small(size)), size)
		if err == nil {
			s.keys[i.Add(1)-1] = mxc
		}
		return err
	})
	return s, err
}

// storeSmallRaw puts n unique objects of size bytes under prefix with raw
// minio-go, conc at a time, and returns their keys.
func storeSmallRaw(ctx context.Context, b *bench, body *content, prefix string, n int, size int64, conc int) (*smallSet, error) {
	s := &smallSet{keys: make([]string, n)}
	var i atomic.Int64
	_, err := concurrently(ctx, n, conc, func(ctx context.Context) error {
		k := i.Add(1) - 1
		key := fmt.Sprintf("%s/%d", prefix, k)
		_, err := b.raw.PutObject(ctx, b.cfg.Bucket, key, bytes.NewReader(body.small(size)), size, b.opts)
		if err == nil {
			s.keys[k] = key
		}
		return err
	})
	return s, err
}

// apiGets downloads the set's media in turn, checking each is size bytes.
func (s *smallSet) apiGets(c *apiClient, size int64) func(context.Context) error {
	return func(ctx context.Context) error {
		return sized(size, func() (int64, error) { return c.download(ctx, s.pick()) })()
	}
}

// rawGets reads the set's objects in turn with raw minio-go GETs.
func (s *smallSet) rawGets(b *bench, size int64) func(context.Context) error {
	return func(ctx context.Context) error {
		return sized(size, func() (int64, error) { return b.rawGet(ctx, s.pick()) })()
	}
}

// thumbnail GETs a width×height thumbnail of an mxc:// URI and returns
// the bytes read.
func (c *apiClient) thumbnail(ctx context.Context, mxc string, width, height int) (int64, error) {
	path, ok := strings.CutPrefix(mxc, "mxc://")
	if !ok {
		return 0, fmt.Errorf("thumbnail: %q is not an mxc:// URI", mxc)
	}
	return c.get(ctx, fmt.Sprintf("/_matrix/client/v1/media/thumbnail/%s?width=%d&height=%d&method=scale", path, width, height))
}

// photo is a unique 1600×1200 JPEG (a chat photo as phones send them
// after scaling: ~100–300 KB), seeded by the content's counter so that
// every call is new content.
func photo(body *content) ([]byte, error) {
	seed := body.next.Add(1)
	img := image.NewRGBA(image.Rect(0, 0, 1600, 1200))
	for y := range 1200 {
		for x := range 1600 {
			img.Set(x, y, color.RGBA{uint8(x/7) + uint8(seed), uint8(y / 5), uint8((x + y) / 11), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// uploadPhoto uploads a new photo as image/jpeg and returns its content URI.
func uploadPhoto(ctx context.Context, c *apiClient, body *content) (string, error) {
	jpg, err := photo(body)
	if err != nil {
		return "", err
	}
	return c.uploadTyped(ctx, bytes.NewReader(jpg), int64(len(jpg)), "image/jpeg")
}
