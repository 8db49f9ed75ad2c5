package testenv_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

func TestEICAR(t *testing.T) {
	// The published SHA-256 of the 68-byte EICAR test file.
	const want = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
	sum := sha256.Sum256(testenv.EICAR())
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("EICAR sha256 %s, want %s", got, want)
	}
}

func TestZipSamples(t *testing.T) {
	data := testenv.NestedZip(t, 2, testenv.ZipEntry{Name: "x.txt", Data: []byte("x")})
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(zr.File) != 1 || zr.File[0].Name != "level.zip" {
		t.Fatalf("outer zip: %v", err)
	}
	bomb := testenv.ZipOfZeros(t, 2, 64<<20, []byte("tail"))
	zr, err = zip.NewReader(bytes.NewReader(bomb), int64(len(bomb)))
	if err != nil || len(zr.File) != 2 || zr.File[1].UncompressedSize64 != 64<<20+4 {
		t.Fatalf("zip of zeros: %v", err)
	}
	if len(bomb) > 1<<20 {
		t.Errorf("128 MiB of zeros zipped to %d bytes; want a small bomb", len(bomb))
	}
	rc, err := zr.File[1].Open()
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	if err != nil || n != 64<<20+4 {
		t.Errorf("entry inflates to %d bytes, %v", n, err)
	}
	enc := testenv.EncryptedZip(t, "s.txt", []byte("secret"), "pw")
	zr, err = zip.NewReader(bytes.NewReader(enc), int64(len(enc)))
	if err != nil || zr.File[0].Flags&1 == 0 || bytes.Contains(enc, []byte("secret")) {
		t.Errorf("encrypted zip: flags %#x, %v", zr.File[0].Flags, err)
	}
}

func TestRandomIsUnique(t *testing.T) {
	if bytes.Equal(testenv.Random(64), testenv.Random(64)) {
		t.Error("two calls of Random returned the same bytes")
	}
}

func TestNATS(t *testing.T) {
	nc, err := nats.Connect(testenv.NATSURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Errorf("JetStream not enabled: %v", err)
	}
}

func TestStartClamd(t *testing.T) {
	c := testenv.StartClamd(t)
	c.Stop()
	c.Start() // same port and socket again
	if c.Addr() == testenv.ClamdAddr(t) {
		t.Errorf("private clamd on the shared address %s", c.Addr())
	}
}
