package report

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Syslog sends each report as one RFC 5424 message over TCP or TLS (RFC
// 5425 framing: octet counting), for SIEMs. The MSG is the English text;
// the structured data element mediarepo@32473 carries the fields.
type Syslog struct {
	// Address is host:port.
	Address string
	// TLS, when set, makes it RFC 5425 syslog over TLS.
	TLS *tls.Config
	// AppName is the APP-NAME (default "mediarepo"); Hostname the
	// HOSTNAME (default the machine's).
	AppName, Hostname string
}

// Name implements Sink.
func (s *Syslog) Name() string { return "syslog" }

// Send implements Sink: one connection per report (reports are rare; a
// kept connection would hide a receiver that went away until the next
// write).
func (s *Syslog) Send(ctx context.Context, r Report) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	var err error
	if s.TLS != nil {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: s.TLS}).DialContext(ctx, "tcp", s.Address)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.Address)
	}
	if err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	msg := s.Format(r)
	if _, err := fmt.Fprintf(conn, "%d %s", len(msg), msg); err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	// A clean close tells the sender that the receiver read it: TCP
	// syslog has no acknowledgement, so this is as sure as it gets.
	if tc, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := tc.CloseWrite(); err != nil {
			return fmt.Errorf("syslog: %w", err)
		}
	}
	return nil
}

// Format returns the RFC 5424 message: facility security/authorization
// (4 → auth; 10 authpriv is for private data), severity warning (4) for
// verdicts and notice (5) for officer actions, MSGID the report's kind,
// the report ID and fields in structured data, the English text as MSG.
func (s *Syslog) Format(r Report) string {
	sev := 5
	if r.Kind == KindVerdict {
		sev = 4
	}
	pri := 4*8 + sev
	app := s.AppName
	if app == "" {
		app = "mediarepo"
	}
	host := s.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	findings, _ := json.Marshal(r.Findings)
	sd := fmt.Sprintf(`[mediarepo@32473 id="%s" kind="%s" mxc="%s" uploader="%s" sha256="%s" result="%s" signature="%s" action="%s" actor="%s" findings="%s"]`,
		sdEscape(r.ID), sdEscape(r.Kind), sdEscape(r.MXC), sdEscape(r.Uploader), sdEscape(r.SHA256), sdEscape(r.Result),
		sdEscape(r.Signature), sdEscape(r.Action), sdEscape(r.Actor), sdEscape(string(findings)))
	en, _ := r.Text()
	return fmt.Sprintf("<%d>1 %s %s %s - %s %s %s", pri, r.At.UTC().Format(time.RFC3339Nano), header(host), header(app), header(r.Kind), sd, en)
}

// sdEscape escapes a PARAM-VALUE (RFC 5424 6.3.3: '"', '\' and ']').
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}

// header makes a header field printable US-ASCII without spaces, or "-".
func header(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return "-"
	}
	if len(s) > 48 {
		s = s[:48]
	}
	return s
}
