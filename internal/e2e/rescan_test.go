package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestRescanAfterSignatureUpdateThroughTheBinary: the binary scans with a
// real clamd whose database version the test sets (testenv.DatedClamd).
// An upload is scanned clean and served; then the real database gets a
// signature that matches it and its version advances: the reconciler's
// rescan quarantines the upload (403 MCS_MEDIA_NOT_CLEAN) while another
// clean upload stays served, and the progress metrics say so.
func TestRescanAfterSignatureUpdateThroughTheBinary(t *testing.T) {
	clamd := testenv.StartClamdOwnDB(t)
	dated := testenv.StartDatedClamd(t, clamd, "ClamAV 1.4.6/27000/Mon Dec  7 10:00:00 2026")
	hs := newHomeserver(t, users())
	s := newSetup(t, hs)
	s.engines = "clamd: " + dated.Addr() + "\n  rescan_rate: 100\n  rescan_window: 1h"
	s.extra = "maintenance:\n  interval: 1s\n"
	in := start(t, s)
	cli := in.client(t, alice, aliceToken)
	ctx := context.Background()
	text := func(what string) []byte {
		return bytes.Repeat([]byte(what+" "+fmt.Sprintf("%x", testenv.Random(8))+"\n"), 1000)
	}
	download := func(id string) (int, []byte) {
		status, _, body := do(t, "GET", in.URL+"/_matrix/client/v1/media/download/example.org/"+id+"?timeout_ms=30000", aliceToken, nil, nil)
		return status, body
	}
	bad, good := text("found infected by the next signatures"), text("stays clean")
	upBad, err := cli.UploadBytes(ctx, bad, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	upGood, err := cli.UploadBytes(ctx, good, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   string
		want []byte
	}{{upBad.ContentURI.FileID, bad}, {upGood.ContentURI.FileID, good}} {
		if status, body := download(c.id); status != 200 || !bytes.Equal(body, c.want) {
			t.Fatalf("download before the update: %d %.200s", status, body)
		}
	}

	clamd.AddSignature("Mediarepo.Rescan.E2E", bad)
	dated.SetVersion("ClamAV 1.4.6/27001/Mon Dec  7 14:00:00 2026")
	deadline := time.Now().Add(90 * time.Second)
	for {
		status, body := download(upBad.ContentURI.FileID)
		if status == 403 {
			if code, reason := errcode(t, body); code != "M_FORBIDDEN" || reason != "MCS_MEDIA_NOT_CLEAN" {
				t.Fatalf("download after the rescan: %d %s", status, body)
			}
			break
		}
		if status != 200 || time.Now().After(deadline) {
			t.Fatalf("download while waiting for the rescan: %d %.200s (waited since the update)", status, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status, body := download(upGood.ContentURI.FileID); status != 200 || !bytes.Equal(body, good) {
		t.Fatalf("the other upload after the rescan: %d %.200s", status, body)
	}
	// The rescan's progress is on the admin listener's metrics (its state
	// is stored when the rescan finishes: wait for it).
	for {
		_, _, metrics := do(t, "GET", in.Admin+"/metrics", "", nil, nil)
		m := string(metrics)
		if strings.Contains(m, "\nmediarepo_rescan_infected 1\n") && strings.Contains(m, "\nmediarepo_rescan_done 2\n") &&
			strings.Contains(m, "\nmediarepo_rescan_running 0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rescan metrics:\n%s", grepLines(m, "mediarepo_rescan_"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// grepLines returns the lines of s that start with prefix.
func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
