package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/report"
)

// OpenReports opens the infection-report outbox when any sink is
// configured (nil, nil otherwise). Scan workers publish into it;
// RunReports sends from it.
func OpenReports(ctx context.Context, cfg config.Config, js jetstream.JetStream, log *slog.Logger, reg prometheus.Registerer) (*report.Outbox, error) {
	if !cfg.Reports.Enabled() {
		return nil, nil
	}
	return report.Open(ctx, js, report.Options{Replicas: cfg.NATS.Replicas}, log, reg)
}

// ReportSinks builds the configured sinks, reading their secrets from
// their files.
func ReportSinks(cfg config.Reports) ([]report.Sink, error) {
	var sinks []report.Sink
	if w := cfg.Webhook; w.URL != "" {
		secret, err := secretFile("reports.webhook.secret_file", w.SecretFile)
		if err != nil {
			return nil, err
		}
		tc, err := tlsConfig("reports.webhook.ca_file", w.CAFile)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, &report.Webhook{URL: w.URL, Secret: []byte(secret),
			Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}})
	}
	if s := cfg.Syslog; s.Address != "" {
		sink := &report.Syslog{Address: s.Address}
		if s.TLS {
			tc, err := tlsConfig("reports.syslog.ca_file", s.CAFile)
			if err != nil {
				return nil, err
			}
			sink.TLS = tc
		}
		sinks = append(sinks, sink)
	}
	if m := cfg.Matrix; m.Homeserver != "" {
		token, err := secretFile("reports.matrix.token_file", m.TokenFile)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, &report.Matrix{Homeserver: m.Homeserver, RoomID: m.RoomID, Token: token})
	}
	return sinks, nil
}

// RunReports sends the outbox to the sinks and forwards the officers'
// audit log into it, until ctx ends.
func RunReports(ctx context.Context, o *report.Outbox, sinks []report.Sink) error {
	errc := make(chan error, 2)
	go func() { errc <- o.Run(ctx, sinks...) }()
	go func() { errc <- o.ForwardAudit(ctx, "") }()
	err := <-errc
	if err2 := <-errc; err == nil {
		err = err2
	}
	return err
}

func secretFile(key, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", key, path)
	}
	return s, nil
}

func tlsConfig(key, caFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in %s", key, caFile)
	}
	tc.RootCAs = pool
	return tc, nil
}
