package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// MaxScannableSize is ClamAV's own ceiling: it cannot scan a file of 2 GiB
// or more.
const MaxScannableSize = 2<<30 - 1

// Validate reports every problem of the configuration at once (joined).
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	for _, a := range []struct{ name, addr string }{{"listen", c.Listen}, {"admin_listen", c.AdminListen}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			bad("%s: %q is not host:port", a.name, a.addr)
		}
	}
	if c.Listen == c.AdminListen {
		bad("admin_listen must differ from listen (the admin listener is never public)")
	}
	if c.DataDir == "" {
		bad("data_dir: required")
	}
	if len(c.Servers) == 0 {
		bad("server_names: at least one is required")
	}
	seenHost := map[string]bool{}
	for i, s := range c.Servers {
		if s.Name == "" {
			bad("server_names[%d].name: required", i)
		}
		for _, h := range s.HostNames() {
			h = strings.ToLower(h) // Host headers, and so the host map, are case-insensitive
			if seenHost[h] {
				bad("server_names[%d]: host %q is claimed twice", i, h)
			}
			seenHost[h] = true
		}
		if c.Auth.Mode == "whoami" {
			if u, err := url.Parse(s.Homeserver); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("server_names[%d].homeserver: %q is not an http(s) URL", i, s.Homeserver)
			}
		}
	}
	switch c.Auth.Mode {
	case "whoami":
	case "static":
		if !c.Embedded {
			bad("auth.mode: static tokens are only allowed in the embedded default")
		}
	default:
		bad("auth.mode: %q is neither whoami nor static", c.Auth.Mode)
	}
	if c.Auth.CacheTTL < 0 || c.Auth.NegativeTTL < 0 || c.Auth.Timeout <= 0 {
		bad("auth: cache_ttl and negative_ttl must be ≥ 0, timeout > 0")
	}
	switch c.Storage.Backend {
	case "fs":
	case "s3":
		s := c.Storage.S3
		if s.Endpoint == "" || s.Bucket == "" {
			bad("storage.s3: endpoint and bucket are required")
		}
		if s.AccessKeyFile == "" || s.SecretKeyFile == "" {
			bad("storage.s3: access_key_file and secret_key_file are required (secrets come from files)")
		}
		if s.PartSize < 5<<20 {
			bad("storage.s3.part_size: %d is below S3's 5 MiB minimum", s.PartSize)
		}
		if s.Concurrency < 1 {
			bad("storage.s3.concurrency: must be ≥ 1")
		}
	default:
		bad("storage.backend: %q is neither fs nor s3", c.Storage.Backend)
	}
	if !c.Embedded {
		if c.Keys.MasterKeyDir == "" {
			bad("keys.master_key_dir: required outside the embedded default (replicas must share the master keys)")
		}
		if c.NATS.URL == "" {
			bad("nats.url: required outside the embedded default")
		}
	}
	if c.NATS.Replicas < 1 || c.NATS.Replicas > 5 {
		bad("nats.replicas: %d is not within 1..5", c.NATS.Replicas)
	}
	if c.NATS.SyncInterval != "always" {
		if _, err := time.ParseDuration(c.NATS.SyncInterval); err != nil {
			bad("nats.sync_interval: %q is neither \"always\" nor a duration", c.NATS.SyncInterval)
		}
	}
	if c.Scan.StreamMaxLength <= 0 || c.Scan.StreamMaxLength > MaxScannableSize {
		bad("scan.stream_max_length: %d is not within 1..%d (ClamAV cannot scan 2 GiB or more)", c.Scan.StreamMaxLength, int64(MaxScannableSize))
	}
	if c.Media.MaxUploadSize <= 0 {
		bad("media.max_upload_size: must be > 0")
	}
	if c.Media.MaxUploadSize > c.Scan.StreamMaxLength {
		bad("media.max_upload_size (%d) exceeds scan.stream_max_length (%d): clamd could not scan such uploads", c.Media.MaxUploadSize, c.Scan.StreamMaxLength)
	}
	if c.Scan.Workers < 0 || c.Scan.MaxDeliver < 1 || c.Scan.Timeout <= 0 || c.Scan.AckWait <= 0 || c.Scan.UploadWait < 0 {
		bad("scan: workers ≥ 0, max_deliver ≥ 1, timeout > 0, ack_wait > 0, upload_wait ≥ 0 are required")
	}
	if c.Scan.MaxSignatureAge <= 0 {
		bad("scan.max_signature_age: must be > 0")
	}
	if c.Scan.RescanRate < 0 || c.Scan.RescanRate > 10000 || c.Scan.RescanRate > 0 && c.Scan.RescanWindow <= 0 {
		bad("scan.rescan_rate: must be within 0..10000 media per second (0: no rescans), with scan.rescan_window > 0")
	}
	if c.Scan.Workers > 0 && len(c.Scan.EngineList()) == 0 && !c.Scan.DevMarkClean {
		bad("scan.clamd or scan.engines: required when in-process workers run")
	}
	c.Scan.validateEngines(bad)
	c.Reports.validate(bad)
	if c.Scan.DevMarkClean && !c.Embedded {
		bad("scan.dev_mark_clean: only allowed in the embedded default")
	}
	for _, t := range c.Media.BlockedTypes {
		if !strings.Contains(t, "/") {
			bad("media.blocked_types: %q is not a MIME type", t)
		}
	}
	if c.Media.UnusedExpiresAfter <= 0 || c.Media.MaxPendingCreates < 1 || c.Media.MaxDownloadWait <= 0 {
		bad("media: unused_expires_after > 0, max_pending_creates ≥ 1, max_download_wait > 0 are required")
	}
	if c.Media.OpaqueContent != "refuse" && c.Media.OpaqueContent != "serve" {
		bad("media.opaque_content: %q is neither refuse nor serve", c.Media.OpaqueContent)
	}
	if c.Thumbnails.MaxPixels < 1 || c.Thumbnails.MaxFrames < 1 || c.Thumbnails.Concurrency < 1 {
		bad("thumbnails: max_pixels, max_frames and concurrency must be ≥ 1")
	}
	if c.ContentScanner.Wait <= 0 {
		bad("content_scanner.wait: must be > 0")
	}
	if c.ContentScanner.AnonymousPerSecond <= 0 || c.ContentScanner.AnonymousBurst < 1 {
		bad("content_scanner: anonymous_per_second > 0 and anonymous_burst ≥ 1 are required")
	}
	if c.Media.LegacyFreeze != "" {
		if _, err := time.Parse(time.RFC3339, c.Media.LegacyFreeze); err != nil {
			bad("media.legacy_freeze: %q is not an RFC 3339 time", c.Media.LegacyFreeze)
		}
	}
	if c.Limits.UploadsPerSecond <= 0 || c.Limits.DownloadsPerSecond <= 0 || c.Limits.UploadBurst < 1 || c.Limits.DownloadBurst < 1 {
		bad("limits: rates > 0 and bursts ≥ 1 are required")
	}
	if c.Limits.UnauthenticatedPerSecond <= 0 || c.Limits.UnauthenticatedBurst < 1 || c.Limits.FailedAuthPerSecond <= 0 || c.Limits.FailedAuthBurst < 1 {
		bad("limits: unauthenticated_per_second and failed_auth_per_second > 0, their bursts ≥ 1 are required")
	}
	if c.Limits.ScansPerSecond <= 0 || c.Limits.ScanBurst < 1 || c.Limits.MaxConcurrentScans < 1 {
		bad("limits: scans_per_second > 0, scan_burst ≥ 1 and max_concurrent_scans ≥ 1 are required")
	}
	if c.Limits.MaxUploadsPerUser < 1 {
		bad("limits.max_uploads_per_user: must be ≥ 1")
	}
	if c.Storage.Backend == "s3" && int64(c.Limits.MemoryBudget) < int64(c.Storage.S3.PartSize)*int64(c.Storage.S3.Concurrency) {
		bad("limits.memory_budget (%d) is below one large S3 upload (part_size × concurrency = %d)", c.Limits.MemoryBudget, int64(c.Storage.S3.PartSize)*int64(c.Storage.S3.Concurrency))
	}
	if c.Limits.MemoryBudget < 1<<20 {
		bad("limits.memory_budget: must be ≥ 1 MiB")
	}
	if _, err := c.HTTP.TrustedProxyPrefixes(); err != nil {
		bad("http.trusted_proxies: %v", err)
	}
	if c.HTTP.ReadHeaderTimeout <= 0 || c.HTTP.MinBodyRate < 0 || c.HTTP.IdleTimeout <= 0 {
		bad("http: read_header_timeout > 0, min_body_rate ≥ 0, idle_timeout > 0 are required")
	}
	errs = append(errs, c.Catalog.validate()...)
	errs = append(errs, c.Officers.validate()...)
	errs = append(errs, c.Federation.validate(c.Servers, c.Media.MaxUploadSize)...)
	errs = append(errs, c.URLPreview.validate(c.Media.MaxUploadSize)...)
	errs = append(errs, c.Maintenance.validate()...)
	errs = append(errs, c.Quotas.validate()...)
	return errors.Join(errs...)
}

// TrustedProxyPrefixes parses TrustedProxies (a CIDR or a single address each).
func (h HTTP) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range h.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// HostNames returns the HTTP hosts that select this server name.
func (s ServerName) HostNames() []string {
	if len(s.Hosts) == 0 {
		return []string{s.Name}
	}
	return s.Hosts
}

// LegacyFreezeTime returns the parsed legacy freeze time (zero: none).
// Validate has checked the format.
func (m Media) LegacyFreezeTime() time.Time {
	t, err := time.Parse(time.RFC3339, m.LegacyFreeze)
	if err != nil {
		return time.Time{}
	}
	return t
}
