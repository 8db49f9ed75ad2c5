package service

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/postgres"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// cutProxy forwards PostgreSQL connections and cuts the one that sends a
// statement containing the marker, as a database killed at that moment
// does. After the server reported the statement done (CommandComplete),
// the server still commits (it got Sync) and the client only sees its
// connection end; with drop, the statement never reaches the server.
// Either way the client sent it and cannot know its outcome.
type cutProxy struct {
	ln     net.Listener
	target string
	marker []byte
	drop   bool
	cuts   atomic.Int64
}

func newCutProxy(t *testing.T, target string, marker string, drop bool) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, marker: []byte(marker), drop: drop}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	var armed atomic.Bool
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if bytes.Contains(buf[:n], p.marker) {
					if p.drop {
						p.cuts.Add(1)
						_ = client.Close()
						_ = server.Close()
						return
					}
					armed.Store(true)
				}
				if _, werr := server.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				_ = server.Close()
				return
			}
		}
	}()
	// Server to client, one message at a time (type byte, int32 length).
	for {
		var head [5]byte
		if _, err := io.ReadFull(server, head[:]); err != nil {
			return
		}
		body := make([]byte, int(binary.BigEndian.Uint32(head[1:]))-4)
		if _, err := io.ReadFull(server, body); err != nil {
			return
		}
		if armed.Load() && head[0] == 'C' {
			p.cuts.Add(1)
			_ = client.Close()
			// Let the server finish (commit at Sync, ReadyForQuery).
			for head[0] != 'Z' {
				if _, err := io.ReadFull(server, head[:]); err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, server, int64(binary.BigEndian.Uint32(head[1:]))-4); err != nil {
					return
				}
			}
			return
		}
		if _, err := client.Write(append(head[:], body...)); err != nil {
			return
		}
	}
}

// openPostgres opens a PostgreSQL catalog on dsn.
func openPostgres(t *testing.T, dsn string) *postgres.Catalog {
	t.Helper()
	c, err := postgres.New(t.Context(), postgres.Options{DSN: dsn}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// cutCatalogs opens two catalogs on one fresh database: direct, and one
// through a cutProxy that cuts every statement containing marker.
func cutCatalogs(t *testing.T, marker string, drop bool) (direct, cut *postgres.Catalog, proxy *cutProxy) {
	t.Helper()
	dsn := testenv.PostgresDB(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy = newCutProxy(t, u.Host, marker, drop)
	via := *u
	via.Host = proxy.ln.Addr().String()
	return openPostgres(t, dsn), openPostgres(t, via.String()), proxy
}

// TestRecordOutcomeUnknown: the catalog's connection is cut after the
// upload's record statement was sent (the fault test's PostgreSQL kill
// answered such uploads 500 and deleted the blob of a record that may
// exist). The upload now fails with catalog.ErrOutcomeUnknown (an
// ErrUnavailable: 503 with Retry-After), then reads the record back: when
// the server had written it, its blob stays and serves the bytes; when the
// statement never arrived, the blob is removed (nothing is left behind,
// not even for the collector, whose intent PostgreSQL may have lost).
func TestRecordOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		drop    bool
		written bool
	}{{"written", false, true}, {"not written", true, false}} {
		t.Run(tc.name, func(t *testing.T) { testOutcomeUnknown(t, tc.drop, tc.written) })
	}
}

func testOutcomeUnknown(t *testing.T, drop, written bool) {
	ctx := context.Background()
	// The marker is in the upload's one statement (postgres.newContent).
	direct, viaProxy, proxy := cutCatalogs(t, "INSERT INTO records", drop)
	log := slog.New(slog.DiscardHandler)
	_, store := newTestStore(t)
	svc := New(store, viaProxy, nil, Options{MaxUploadSize: 1 << 20, DevMarkClean: true, UnusedExpiresAfter: time.Hour,
		MaxPendingCreates: 10}, log, prometheus.NewRegistry())

	body := []byte("an upload whose record statement is sent while the database goes away")
	_, err := svc.Upload(ctx, Upload{Origin: "example.org", Uploader: "@alice:example.org", DeclaredType: "text/plain",
		Body: bytes.NewReader(body), ContentLength: int64(len(body))})
	if proxy.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d connections, want 1 (err %v)", proxy.cuts.Load(), err)
	}
	if !errors.Is(err, catalog.ErrOutcomeUnknown) || !errors.Is(err, catalog.ErrUnavailable) {
		t.Fatalf("upload with its answer cut: %v, want catalog.ErrOutcomeUnknown (an ErrUnavailable)", err)
	}
	var recs []media.Record
	for _, st := range []media.State{media.StatePending, media.StateClean} {
		if err := direct.ListByState(ctx, st, func(e catalog.Entry) error {
			recs = append(recs, e.Record)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if !written {
		if len(recs) != 0 {
			t.Fatalf("%d records after an upload whose statement never arrived", len(recs))
		}
		// The blob goes once the record is read back (in the background),
		// and then its intent.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			var blobs []string
			if err := store.List(ctx, "", func(in storage.Info) error {
				blobs = append(blobs, in.Key)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var intents []catalog.Intent
			if err := direct.ListIntents(ctx, time.Time{}, func(in catalog.Intent) error {
				intents = append(intents, in)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(blobs) == 0 && len(intents) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("blobs %v and intents %+v still there a minute after an upload that wrote no record", blobs, intents)
			}
		}
		return
	}
	if len(recs) != 1 {
		t.Fatalf("%d records after the cut upload, want the 1 the database committed", len(recs))
	}
	// Give the background read time to act wrongly, then read the blob.
	time.Sleep(2 * time.Second)
	rc, err := store.Get(ctx, recs[0].BlobKey, 0, -1)
	if err != nil {
		t.Fatalf("the committed record's blob %s: %v (deleted by the failed upload)", recs[0].BlobKey, err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("the committed record's blob reads %q, %v", got, err)
	}
}
