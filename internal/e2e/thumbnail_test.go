package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

// pngBomb is a PNG whose header claims 100000×100000 pixels.
func pngBomb() []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

func TestThumbnails(t *testing.T) {
	hs := newHomeserver(t, users())
	in := start(t, newSetup(t, hs))
	cli := in.client(t, alice, aliceToken)
	ctx := context.Background()
	upload := func(data []byte, ctype string) string {
		t.Helper()
		up, err := cli.UploadBytes(ctx, data, ctype)
		if err != nil {
			t.Fatal(err)
		}
		return up.ContentURI.FileID
	}
	thumb := func(id, query string) (int, string, []byte) {
		t.Helper()
		status, h, body := do(t, "GET", in.URL+"/_matrix/client/v1/media/thumbnail/example.org/"+id+"?"+query, aliceToken, nil, nil)
		return status, h.Get("Content-Type") + " | " + h.Get("Content-Disposition"), body
	}

	big := upload(testenv.PNG(t, 1200, 900), "image/png")
	status, hdr, body := thumb(big, "width=300&height=200&method=scale")
	if status != 200 || !strings.HasPrefix(hdr, "image/") || !strings.Contains(hdr, "inline") {
		t.Fatalf("thumbnail: %d %s %s", status, hdr, body)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil || cfg.Width != 320 || cfg.Height != 240 {
		t.Fatalf("thumbnail is %s %dx%d (%v), want the recommended 320x240", format, cfg.Width, cfg.Height, err)
	}
	status, _, again := thumb(big, "width=300&height=200&method=scale")
	if status != 200 || !bytes.Equal(again, body) {
		t.Fatalf("cached thumbnail differs: %d", status)
	}
	status, _, body = thumb(big, "width=90&height=90&method=crop")
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(body)); status != 200 || err != nil || cfg.Width != 96 || cfg.Height != 96 {
		t.Fatalf("crop thumbnail: %d %dx%d %v", status, cfg.Width, cfg.Height, err)
	}

	small := testenv.PNG(t, 40, 30)
	status, _, body = thumb(upload(small, "image/png"), "width=320&height=240")
	if status != 200 || !bytes.Equal(body, small) {
		t.Fatalf("a small original is returned as it is: %d, %d bytes", status, len(body))
	}

	for _, tc := range []struct {
		name, id, query string
		status          int
		code            string
	}{
		{"pixel bomb", upload(pngBomb(), "image/png"), "width=320&height=240", 413, "M_TOO_LARGE"},
		{"not an image", upload([]byte(strings.Repeat("just text ", 100)), "text/plain"), "width=320&height=240", 400, "M_UNKNOWN"},
		{"bad width", big, "width=abc&height=240", 400, "M_INVALID_PARAM"},
		{"bad method", big, "width=32&height=32&method=stretch", 400, "M_INVALID_PARAM"},
		{"infected", upload(testenv.EICAR(), "image/png"), "width=32&height=32&timeout_ms=20000", 403, "M_FORBIDDEN"},
		{"ciphertext", upload(testenv.Random(4096), "application/octet-stream"), "width=32&height=32&timeout_ms=20000", 403, "M_FORBIDDEN"},
	} {
		status, _, body := thumb(tc.id, tc.query)
		if code, _ := errcode(t, body); status != tc.status || code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, body, tc.status, tc.code)
		}
	}
	// still alive after the bomb
	if status, _, _ := thumb(big, "width=32&height=32&method=crop"); status != 200 {
		t.Fatalf("after the bomb: %d", status)
	}
	// the content scanner's thumbnail serves the same
	status, h, body := do(t, "GET", in.URL+mcs+"/thumbnail/example.org/"+big+"?width=32&height=32&method=crop", aliceToken, nil, nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "image/") {
		t.Fatalf("content scanner thumbnail: %d %s", status, body)
	}
}
