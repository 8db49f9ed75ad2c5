package clamd

import (
	"fmt"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/scan"
)

// Replies and signature prefixes of clamd that the verdict policy names.
const (
	replyClean          = "stream: OK"
	replyPrefix         = "stream: "
	replyFoundSuffix    = " FOUND"
	replyErrorSuffix    = "ERROR"
	replySizeLimit      = "INSTREAM size limit exceeded"
	heuristicsLimits    = "Heuristics.Limits.Exceeded"
	heuristicsEncrypted = "Heuristics.Encrypted"
)

// verdictFor applies the fail-closed policy to one INSTREAM reply:
//
//   - exactly "stream: OK" is clean, nothing else;
//   - "stream: <name> FOUND" is infected, except the limit and encryption
//     heuristics (AlertExceedsMax, AlertEncrypted), which are unscannable;
//   - "INSTREAM size limit exceeded. ERROR" is unscannable;
//   - any other ERROR and anything unexpected wrap scan.ErrUnavailable.
func verdictFor(reply string, at time.Time) (scan.Verdict, error) {
	reply = strings.TrimRight(reply, "\x00\n")
	v := scan.Verdict{ScannedAt: at}
	switch {
	case reply == replyClean:
		v.Result = scan.ResultClean
		return v, nil
	case strings.HasPrefix(reply, replySizeLimit):
		v.Result = scan.ResultUnscannable
		v.Reason = "larger than clamd's StreamMaxLength"
		return v, nil
	case strings.HasPrefix(reply, replyPrefix) && strings.HasSuffix(reply, replyFoundSuffix):
		name := strings.TrimSuffix(strings.TrimPrefix(reply, replyPrefix), replyFoundSuffix)
		if name == "" || strings.ContainsAny(name, " \t") {
			return v, fmt.Errorf("%w: unexpected clamd reply %q", scan.ErrUnavailable, reply)
		}
		v.Signature = name
		switch {
		case strings.HasPrefix(name, heuristicsLimits):
			v.Result = scan.ResultUnscannable
			v.Reason = "exceeds clamd's scan limits"
		case strings.HasPrefix(name, heuristicsEncrypted):
			v.Result = scan.ResultUnscannable
			v.Reason = "encrypted content cannot be scanned"
		default:
			v.Result = scan.ResultInfected
		}
		return v, nil
	case strings.HasSuffix(reply, replyErrorSuffix):
		return v, fmt.Errorf("%w: clamd: %s", scan.ErrUnavailable, reply)
	}
	return v, fmt.Errorf("%w: unexpected clamd reply %q", scan.ErrUnavailable, reply)
}

// parseVersion parses clamd's VERSION reply, "ClamAV 1.4.6/27000/Mon Nov 23 09:12:00 2026",
// or "ClamAV 1.4.6" when no versioned database is loaded.
func parseVersion(reply string) (scan.EngineVersion, error) {
	reply = strings.TrimRight(reply, "\x00\n")
	parts := strings.SplitN(reply, "/", 3)
	engine, version, ok := strings.Cut(parts[0], " ")
	if !ok || engine == "" || version == "" {
		return scan.EngineVersion{}, fmt.Errorf("%w: unexpected clamd VERSION reply %q", scan.ErrUnavailable, reply)
	}
	ev := scan.EngineVersion{Engine: engine, Version: version}
	if len(parts) > 1 && parts[1] != "0" {
		ev.SignatureVersion = parts[1]
	}
	if len(parts) > 2 {
		t, err := time.Parse(time.ANSIC, parts[2])
		if err != nil {
			return scan.EngineVersion{}, fmt.Errorf("%w: clamd VERSION date %q: %w", scan.ErrUnavailable, parts[2], err)
		}
		ev.SignatureDate = t
	}
	return ev, nil
}
