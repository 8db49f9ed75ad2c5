package app

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/httpapi"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/worker"
)

// contentScannerKeys loads the encrypted_body key pair: generated on first
// start only in the embedded default, required otherwise.
func (s *Server) contentScannerKeys() (*e2ee.KeyPair, error) {
	path := s.cfg.ContentScanner.KeyFile
	if path == "" && s.cfg.Embedded {
		path = filepath.Join(s.cfg.DataDir, "content-scanner.key")
	}
	if !s.cfg.Embedded {
		if path == "" {
			return nil, fmt.Errorf("content_scanner.key_file: required outside the embedded default (replicas must share the key pair)")
		}
		kp, err := e2ee.LoadKeyPair(path)
		if err != nil {
			return nil, fmt.Errorf("content_scanner.key_file: %w", err)
		}
		return kp, nil
	}
	kp, created, err := e2ee.LoadOrGenerateKeyPair(path)
	if err != nil {
		return nil, fmt.Errorf("content scanner key: %w", err)
	}
	if created {
		s.log.Warn("GENERATED A CONTENT-SCANNER KEY PAIR: back it up; clients cache its public key", "file", path)
	}
	return kp, nil
}

// localKeyScanner scans with the in-process worker once it is built.
type localKeyScanner struct{ w atomic.Pointer[worker.Worker] }

func (l *localKeyScanner) ScanEncrypted(ctx context.Context, rec media.Record, f e2ee.EncryptedFile) (media.Verdict, error) {
	w := l.w.Load()
	if w == nil {
		return media.Verdict{}, fmt.Errorf("%w: the scan workers are starting", scan.ErrUnavailable)
	}
	return w.ScanEncrypted(ctx, rec, f)
}

// scannerOptions wires the content-scanner API: in-process workers scan
// encrypted attachments inside the request; without them the request goes
// to the scan workers over core NATS (never through JetStream).
func (s *Server) scannerOptions(svc *service.Service) (httpapi.ScannerOptions, error) {
	keys, err := s.contentScannerKeys()
	if err != nil {
		return httpapi.ScannerOptions{}, err
	}
	var ks service.KeyScanner = worker.EncryptedClient{NC: s.nats.Conn, Timeout: s.cfg.Scan.Timeout.D()}
	if s.local != nil {
		ks = s.local
	}
	cs := s.cfg.ContentScanner
	if cs.AllowUnauthenticated {
		s.log.Warn("content_scanner.allow_unauthenticated: the content-scanner routes serve clean media without an access token",
			"per_address_per_second", cs.AnonymousPerSecond, "burst", cs.AnonymousBurst)
	}
	return httpapi.ScannerOptions{Keys: keys, Wait: min(cs.Wait.D(), s.cfg.Media.MaxDownloadWait.D()),
		Checker:              service.NewEncrypted(svc, s.catalog, ks),
		AllowUnauthenticated: cs.AllowUnauthenticated, AnonymousPerSecond: cs.AnonymousPerSecond, AnonymousBurst: cs.AnonymousBurst}, nil
}
