package clamd

import (
	"errors"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/scan"
)

func TestVerdictFor(t *testing.T) {
	for _, tc := range []struct {
		reply     string
		result    scan.Result
		signature string
		err       error
	}{
		{"stream: OK\x00", scan.ResultClean, "", nil},
		{"stream: OK", scan.ResultClean, "", nil},
		{"stream: Eicar-Test-Signature.UNOFFICIAL FOUND\x00", scan.ResultInfected, "Eicar-Test-Signature.UNOFFICIAL", nil},
		{"stream: Win.Test.EICAR_HDB-1 FOUND", scan.ResultInfected, "Win.Test.EICAR_HDB-1", nil},
		{"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND", scan.ResultUnscannable, "Heuristics.Limits.Exceeded.MaxFileSize", nil},
		{"stream: Heuristics.Encrypted.Zip FOUND", scan.ResultUnscannable, "Heuristics.Encrypted.Zip", nil},
		{"stream: Heuristics.Encrypted.PDF FOUND", scan.ResultUnscannable, "Heuristics.Encrypted.PDF", nil},
		{"INSTREAM size limit exceeded. ERROR\x00", scan.ResultUnscannable, "", nil},
		// Fail closed: nothing else is clean.
		{"stream: OK ", "", "", scan.ErrUnavailable},
		{"stream:OK", "", "", scan.ErrUnavailable},
		{"OK", "", "", scan.ErrUnavailable},
		{"", "", "", scan.ErrUnavailable},
		{"stream: Can't allocate memory ERROR", "", "", scan.ErrUnavailable},
		{"stream: lstat() failed: No such file or directory. ERROR", "", "", scan.ErrUnavailable},
		{"UNKNOWN COMMAND", "", "", scan.ErrUnavailable},
		{"stream:  FOUND", "", "", scan.ErrUnavailable},
		{"stream: two words FOUND", "", "", scan.ErrUnavailable},
	} {
		v, err := verdictFor(tc.reply, time.Unix(1, 0))
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%q: error %v, want %v", tc.reply, err, tc.err)
			continue
		}
		if v.Result != tc.result || v.Signature != tc.signature {
			t.Errorf("%q: %s %q, want %s %q", tc.reply, v.Result, v.Signature, tc.result, tc.signature)
		}
		if tc.result == scan.ResultUnscannable && v.Reason == "" {
			t.Errorf("%q: unscannable without a reason", tc.reply)
		}
	}
}

func TestParseVersion(t *testing.T) {
	ev, err := parseVersion("ClamAV 1.4.6/27000/Mon Nov 23 09:12:00 2026\x00")
	if err != nil {
		t.Fatal(err)
	}
	want := scan.EngineVersion{Engine: "ClamAV", Version: "1.4.6", SignatureVersion: "27000",
		SignatureDate: time.Date(2026, 11, 23, 9, 12, 0, 0, time.UTC)}
	if ev != want {
		t.Errorf("got %+v, want %+v", ev, want)
	}
	if ev, err := parseVersion("ClamAV 1.4.6"); err != nil || ev.Version != "1.4.6" || ev.SignatureVersion != "" {
		t.Errorf("without a database version: %+v, %v", ev, err)
	}
	for _, bad := range []string{"", "PONG", "ClamAV", "ClamAV 1.4.6/27000/yesterday"} {
		if _, err := parseVersion(bad); !errors.Is(err, scan.ErrUnavailable) {
			t.Errorf("%q: %v, want ErrUnavailable", bad, err)
		}
	}
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct{ in, network, address string }{
		{"tcp://127.0.0.1:3310", "tcp", "127.0.0.1:3310"},
		{"tcp://[::1]:3310", "tcp", "[::1]:3310"},
		{"tcp://clamd:3310/", "tcp", "clamd:3310"},
		{"unix:///run/clamav/clamd.ctl", "unix", "/run/clamav/clamd.ctl"},
	} {
		n, a, err := ParseAddress(tc.in)
		if err != nil || n != tc.network || a != tc.address {
			t.Errorf("%q: %q %q %v", tc.in, n, a, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:3310", "tcp://127.0.0.1", "unix://relative/sock", "http://x:1", "tcp://h:1/path"} {
		if _, _, err := ParseAddress(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}
