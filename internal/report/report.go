// Package report sends infection reports to a central place (BSI
// IT-Grundschutz OPS.1.1.4 A9): every infected or unscannable verdict and
// every officer action becomes a Report in a durable outbox (a JetStream
// stream), from which a dispatcher sends it to each configured sink — an
// HTTPS webhook, syslog (RFC 5424 over TCP or TLS) or a Matrix room — with
// retries and backoff until the sink took it.
//
// A report names the media (mxc URI), the uploader, the hashes, the
// engines' findings, the time and the action. It never holds content or
// a decryption key.
package report

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kinds of reports.
const (
	// KindVerdict: a scan ended infected or unscannable.
	KindVerdict = "verdict"
	// KindOfficerAction: a security officer acted (from the audit log).
	KindOfficerAction = "officer_action"
)

// Finding is one engine's part in a verdict.
type Finding struct {
	Engine           string `json:"engine"`
	Result           string `json:"result,omitempty"`
	Signature        string `json:"signature,omitempty"`
	EngineVersion    string `json:"engine_version,omitempty"`
	SignatureVersion string `json:"signature_version,omitempty"`
	Error            string `json:"error,omitempty"`
}

// Report is one event for the central place.
type Report struct {
	// ID identifies the report; sinks use it to drop duplicates
	// (X-Mediarepo-Report-ID, syslog MSGID, the Matrix transaction ID).
	ID   string    `json:"id"`
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
	// MXC is the media's mxc:// URI (or the target of an officer action:
	// a user ID, "sha256:<hex>").
	MXC      string `json:"mxc,omitempty"`
	Uploader string `json:"uploader,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Size     int64  `json:"size,omitempty"`
	// Result is the verdict's result; Signature its signature(s).
	Result    string    `json:"result,omitempty"`
	Signature string    `json:"signature,omitempty"`
	Findings  []Finding `json:"findings,omitempty"`
	// Action is what was done: "quarantined", "blocked" for verdicts; the
	// officer's action ("release", "delete", ...) otherwise.
	Action string `json:"action"`
	Actor  string `json:"actor,omitempty"`
	Reason string `json:"reason,omitempty"`
	State  string `json:"state,omitempty"`
}

// ErrInvalid means a report lacks its ID, kind, time or action.
var ErrInvalid = errors.New("report: invalid report")

// Validate checks the fields every sink needs.
func (r Report) Validate() error {
	if r.ID == "" || r.Kind == "" || r.At.IsZero() || r.Action == "" || strings.ContainsAny(r.ID, " \t\r\n") {
		return fmt.Errorf("%w: id %q kind %q action %q", ErrInvalid, r.ID, r.Kind, r.Action)
	}
	return nil
}

// Sink delivers reports to one place.
type Sink interface {
	// Name names the sink in metrics and logs ("webhook", "syslog", "matrix").
	Name() string
	// Send delivers r. An error means the sink did not take it: the report
	// is sent again later. Sending the same report twice must be harmless
	// to the receiver (the report ID lets it drop the second).
	Send(ctx context.Context, r Report) error
}

// Text returns the report as one line of text in English and German,
// for humans (syslog message, Matrix notice).
func (r Report) Text() (en, de string) {
	subject := r.MXC
	if subject == "" {
		subject = "-"
	}
	switch r.Kind {
	case KindVerdict:
		en = fmt.Sprintf("mediarepo: %s is %s (%s): %s, uploaded by %s, SHA-256 %s", subject, r.Result, r.Action, orDash(r.Signature), orDash(r.Uploader), orDash(r.SHA256))
		de = fmt.Sprintf("mediarepo: %s ist %s (%s): %s, hochgeladen von %s, SHA-256 %s", subject, resultDE(r.Result), actionDE(r.Action), orDash(r.Signature), orDash(r.Uploader), orDash(r.SHA256))
	default:
		en = fmt.Sprintf("mediarepo: officer %s: %s on %s (reason: %s)", orDash(r.Actor), r.Action, subject, orDash(r.Reason))
		de = fmt.Sprintf("mediarepo: Sicherheitsbeauftragte(r) %s: %s für %s (Begründung: %s)", orDash(r.Actor), r.Action, subject, orDash(r.Reason))
	}
	return en, de
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func resultDE(r string) string {
	switch r {
	case "infected":
		return "infiziert"
	case "unscannable":
		return "nicht prüfbar"
	}
	return r
}

func actionDE(a string) string {
	switch a {
	case "quarantined":
		return "in Quarantäne"
	case "blocked":
		return "gesperrt"
	}
	return a
}
