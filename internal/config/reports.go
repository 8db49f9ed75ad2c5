package config

import (
	"net"
	"net/url"
	"strings"
)

// Reports configures infection reports (BSI OPS.1.1.4 A9): every infected
// or unscannable verdict and every officer action goes through a durable
// outbox to each configured sink.
type Reports struct {
	Webhook ReportWebhook `yaml:"webhook"`
	Syslog  ReportSyslog  `yaml:"syslog"`
	Matrix  ReportMatrix  `yaml:"matrix"`
}

// ReportWebhook POSTs each report as JSON, signed with HMAC-SHA256
// (header X-Mediarepo-Signature: sha256=<hex>).
type ReportWebhook struct {
	// URL is the https:// endpoint; empty: no webhook.
	URL string `yaml:"url"`
	// SecretFile holds the HMAC secret.
	SecretFile string `yaml:"secret_file"`
	// CAFile, optional, holds the PEM roots that the endpoint's
	// certificate must chain to (default: the system's).
	CAFile string `yaml:"ca_file"`
}

// ReportSyslog sends RFC 5424 messages over TCP or TLS (octet counting).
type ReportSyslog struct {
	// Address is host:port; empty: no syslog.
	Address string `yaml:"address"`
	// TLS: syslog over TLS (RFC 5425).
	TLS bool `yaml:"tls"`
	// CAFile, optional, holds the PEM roots for TLS.
	CAFile string `yaml:"ca_file"`
}

// ReportMatrix posts an m.notice (German and English) into a room.
type ReportMatrix struct {
	// Homeserver is the client-server API base URL; empty: no Matrix room.
	Homeserver string `yaml:"homeserver"`
	// RoomID is the room, "!abc:example.org"; the bot must be joined.
	RoomID string `yaml:"room_id"`
	// TokenFile holds the bot's access token.
	TokenFile string `yaml:"token_file"`
}

// Enabled reports whether any sink is configured.
func (r Reports) Enabled() bool {
	return r.Webhook.URL != "" || r.Syslog.Address != "" || r.Matrix.Homeserver != ""
}

func (r Reports) validate(bad func(string, ...any)) {
	if w := r.Webhook; w.URL != "" {
		u, err := url.Parse(w.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			bad("reports.webhook.url: %q must be an https:// URL", w.URL)
		}
		if w.SecretFile == "" {
			bad("reports.webhook.secret_file: required with reports.webhook.url")
		}
	}
	if s := r.Syslog; s.Address != "" {
		if _, _, err := net.SplitHostPort(s.Address); err != nil {
			bad("reports.syslog.address: %q is not host:port", s.Address)
		}
	}
	if m := r.Matrix; m.Homeserver != "" {
		u, err := url.Parse(m.Homeserver)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("reports.matrix.homeserver: %q is not an http(s) URL", m.Homeserver)
		}
		if !strings.HasPrefix(m.RoomID, "!") || !strings.Contains(m.RoomID, ":") {
			bad("reports.matrix.room_id: %q is not a room ID (!id:server)", m.RoomID)
		}
		if m.TokenFile == "" {
			bad("reports.matrix.token_file: required with reports.matrix.homeserver")
		}
	}
}
