package icap

import (
	"bytes"
	"fmt"
	"net/textproto"
	"strings"
	"unicode"

	"github.com/mediarepo/mediarepo/internal/scan"
)

// Signature names for findings that come without a name.
const (
	SignatureForbidden = "ICAP.Forbidden" // ICAP 403 without an infection header
	SignatureBlocked   = "ICAP.Blocked"   // a changed answer (blocked page) without one
	maxSignature       = 200              // longer names are cut
	reasonPartial      = "the ICAP service answered before it had the whole content (a type or size it does not scan?)"
)

// verdict applies the policy to an answer (see the package comment); it
// is labelled with the answer's ISTag, and marked VersionChanged when
// that differs from the last OPTIONS' one.
// The rules: 5xx and unknown statuses are errors; infection headers, 403 and a
// changed answer are findings; 204 and the unmodified content are clean
// when the whole content was sent, unscannable otherwise.
func (s *Scanner) verdict(opt options, resp *response, w sent, n int64, sum []byte) (scan.Verdict, error) {
	// The answer's ISTag is the service state that made this verdict; the
	// one of the last OPTIONS is the version "before" (scan.Stamp).
	before := opt.version()
	after := before
	if tag := unquote(resp.header.Get("ISTag")); tag != "" {
		after.SignatureVersion = tag
	}
	v := scan.Stamp(scan.Verdict{}, before, after)
	switch {
	case resp.status >= 500:
		what := ""
		if resp.status == 506 {
			what = " (server too busy)"
		}
		return v, fmt.Errorf("%w: icap %s answered %d %s%s", scan.ErrUnavailable, s.host, resp.status, resp.reason, what)
	case resp.status != 200 && resp.status != 204 && resp.status != 403:
		return v, fmt.Errorf("%w: icap %s answered %d %s", scan.ErrUnavailable, s.host, resp.status, resp.reason)
	}
	if name, ok := s.finding(resp.header); ok {
		v.Signature = name
		v.Result = scan.ResultInfected
		for _, p := range s.unscanable {
			if strings.HasPrefix(name, p) {
				v.Result, v.Reason = scan.ResultUnscannable, "the engine could not judge the content ("+p+")"
			}
		}
		return v, nil
	}
	switch resp.status {
	case 403:
		v.Result, v.Signature = scan.ResultInfected, SignatureForbidden
		return v, nil
	case 204:
		return s.cleanIf(v, w), nil
	}
	if resp.httpStart == "" {
		return v, fmt.Errorf("%w: icap %s answered 200 without an encapsulated message", scan.ErrUnavailable, s.host)
	}
	unmodified := n == w.n && bytes.Equal(sum, w.digest)
	switch s.cfg.Method {
	case REQMOD:
		unmodified = unmodified && strings.HasPrefix(resp.httpStart, "POST ")
	default:
		unmodified = unmodified && resp.httpStatus() == 200
	}
	if unmodified {
		return s.cleanIf(v, w), nil
	}
	v.Result, v.Signature = scan.ResultInfected, SignatureBlocked
	v.Reason = "the ICAP service answered with changed content"
	if code := resp.httpStatus(); code != 0 {
		v.Reason += fmt.Sprintf(" (HTTP %d)", code)
	}
	return v, nil
}

// cleanIf is clean when the whole content reached the service.
func (s *Scanner) cleanIf(v scan.Verdict, w sent) scan.Verdict {
	if w.all {
		v.Result = scan.ResultClean
		return v
	}
	v.Result, v.Reason = scan.ResultUnscannable, reasonPartial
	return v
}

// finding returns the signature named by the first infection header
// present, or false.
func (s *Scanner) finding(h textproto.MIMEHeader) (string, bool) {
	for _, name := range s.headers {
		vals := h.Values(name)
		if len(vals) == 0 {
			continue
		}
		sig := signatureFrom(textproto.CanonicalMIMEHeaderKey(name), strings.Join(vals, " "))
		if sig == "" {
			sig = name // present but empty: still a finding
		}
		return sig, true
	}
	return "", false
}

// signatureFrom extracts the threat's name from a header's value:
// "Type=0; Resolution=2; Threat=Eicar-Test-Signature;" (c-icap), the
// folded lines of X-Violations-Found ("1 - Eicar-Test-Signature 0 0":
// count, then filename, threat, id, disposition), or the value itself.
func signatureFrom(header, value string) string {
	value = strings.TrimSpace(value)
	if _, rest, ok := strings.Cut(value, "Threat="); ok {
		name, _, _ := strings.Cut(rest, ";")
		return clean(name)
	}
	if header == "X-Violations-Found" {
		f := strings.Fields(value)
		if len(f) >= 5 {
			return clean(f[len(f)-3])
		}
	}
	return clean(value)
}

// clean keeps a signature name printable and short.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, strings.TrimSpace(s))
	if len(s) > maxSignature {
		s = s[:maxSignature]
	}
	return s
}
