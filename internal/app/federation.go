package app

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/federation"
	"github.com/mediarepo/mediarepo/internal/httpapi"
	"github.com/mediarepo/mediarepo/internal/service"
)

// buildFederation wires the server-server media API when enabled: the
// signing key, the resolving SSRF-safe client that fetches remote media
// for the service, the X-Matrix verifier with its key cache, and the
// /_matrix/federation/ routes in front of the public handler.
func (s *Server) buildFederation(ctx context.Context) error {
	cfg := s.cfg.Federation
	if !cfg.Enabled {
		return nil
	}
	key, err := federation.LoadSigningKey(cfg.SigningKeyFile)
	if err != nil {
		return err
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return fmt.Errorf("federation.ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("federation.ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
	}
	names := make([]string, 0, len(s.cfg.Servers))
	ours := map[string]bool{}
	for _, sn := range s.cfg.Servers {
		names = append(names, sn.Name)
		ours[sn.Name] = true
	}
	acl := federation.NewPeerACL(cfg.AllowedPeers)
	client := federation.NewClient(federation.ClientOptions{
		ServerName: cfg.SignAs(s.cfg.Servers), Key: key,
		Policy:  federation.AddrPolicy{AllowPrivate: cfg.AllowPrivateAddresses},
		RootCAs: roots, Timeout: cfg.Timeout(), MaxSize: cfg.MaxSize(s.cfg.Media.MaxUploadSize), ACL: acl,
	})
	s.svc.EnableRemote(client, service.RemoteOptions{Local: names, Timeout: cfg.Timeout(),
		Counter: s.catalog, Quota: int64(cfg.RemoteQuota)}, s.registry)
	verifier := federation.NewVerifier(federation.NewKeyStore(client), acl, func(n string) bool { return ours[n] })
	proxies, err := s.cfg.HTTP.TrustedProxyPrefixes()
	if err != nil {
		return err
	}
	// Key fetches for origins we have no keys of: per client address, like
	// every route without a token.
	verifier.SetFetchGate(httpapi.NewAddrLimiter(httpapi.NewClientAddrs(proxies),
		s.cfg.Limits.UnauthenticatedPerSecond, s.cfg.Limits.UnauthenticatedBurst).Allow)
	def := ""
	if len(names) == 1 {
		def = names[0]
	}
	fed := httpapi.NewFederation(s.svc.ForPeers(), verifier, httpapi.FederationOptions{
		DefaultServer: def, DefaultWait: 20 * time.Second, MaxWait: s.cfg.Media.MaxDownloadWait.D(),
		Thumbnails: s.thumbs,
	}, s.log, s.registry)
	public := s.Public
	s.Public = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, httpapi.FederationPrefix) {
			fed.ServeHTTP(w, r)
			return
		}
		public.ServeHTTP(w, r)
	})
	s.log.Info("federation enabled", "sign_as", cfg.SignAs(s.cfg.Servers), "key_id", string(key.ID),
		"allowed_peers", len(cfg.AllowedPeers), "allow_private_addresses", cfg.AllowPrivateAddresses,
		"remote_quota", int64(cfg.RemoteQuota), "remote_retention", cfg.RemoteRetention.D().String())
	return ctx.Err()
}
