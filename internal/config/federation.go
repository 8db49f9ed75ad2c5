package config

import (
	"fmt"
	"time"
)

// Federation configures the server-server media API: serving our media to
// other servers and fetching theirs. The signing key is the homeserver's
// own (Synapse's signing.key format), mounted into mediarepo as a file.
type Federation struct {
	// Enabled turns federation on: the /_matrix/federation/v1/media routes
	// and fetching remote media for our users.
	Enabled bool `yaml:"enabled"`
	// ServerName is the server name our requests are signed as (default:
	// the only entry of server_names; required when there are several).
	ServerName string `yaml:"server_name"`
	// SigningKeyFile is the homeserver's signing key file
	// ("ed25519 <key_id> <base64 seed>"). Required when enabled.
	SigningKeyFile string `yaml:"signing_key_file"`
	// AllowedPeers lists the servers we federate with, both ways
	// ("example.org", "hs.example.org:8448", "*.bund.example"); empty
	// allows every server.
	AllowedPeers []string `yaml:"allowed_peers"`
	// AllowPrivateAddresses lets outgoing connections reach loopback and
	// private (RFC 1918, CGNAT, IPv6 ULA) addresses: closed federations on
	// internal networks and tests only. Link-local (169.254.0.0/16, e.g.
	// cloud metadata), unspecified and multicast stay refused.
	AllowPrivateAddresses bool `yaml:"allow_private_addresses"`
	// CAFile optionally adds PEM certificates trusted for other servers'
	// TLS (a federation's private CA), on top of the system roots.
	CAFile string `yaml:"ca_file"`
	// MaxRemoteSize caps remote media (0: media.max_upload_size; never
	// more than it).
	MaxRemoteSize ByteSize `yaml:"max_remote_size"`
	// FetchTimeout bounds one remote fetch, body included (0: 60s).
	FetchTimeout Duration `yaml:"fetch_timeout"`
	// RemoteQuota caps the total bytes of cached remote media across the
	// deployment (0: unlimited); a fetch that would pass it fails with 502
	// M_TOO_LARGE and stores nothing.
	RemoteQuota ByteSize `yaml:"remote_quota"`
	// RemoteRetention is how long cached remote media is kept after its
	// fetch (0: forever); older clean copies are dropped by the reconciler
	// and fetched, and scanned, again on the next request.
	RemoteRetention Duration `yaml:"remote_retention"`
}

// defaultFetchTimeout is FetchTimeout's default.
const defaultFetchTimeout = 60 * time.Second

// Timeout returns the fetch timeout with its default applied.
func (f Federation) Timeout() time.Duration {
	if f.FetchTimeout <= 0 {
		return defaultFetchTimeout
	}
	return f.FetchTimeout.D()
}

// MaxSize returns the remote size cap given the upload cap.
func (f Federation) MaxSize(maxUpload ByteSize) int64 {
	if f.MaxRemoteSize <= 0 {
		return int64(maxUpload)
	}
	return int64(f.MaxRemoteSize)
}

// SignAs returns the server name requests are signed as.
func (f Federation) SignAs(servers []ServerName) string {
	if f.ServerName == "" && len(servers) == 1 {
		return servers[0].Name
	}
	return f.ServerName
}

// validate reports the problems of the federation settings.
func (f Federation) validate(servers []ServerName, maxUpload ByteSize) []error {
	if !f.Enabled {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if f.SigningKeyFile == "" {
		bad("federation.signing_key_file: required when federation is enabled (the homeserver's signing key, mounted as a file)")
	}
	sign := f.SignAs(servers)
	found := false
	for _, s := range servers {
		found = found || s.Name == sign
	}
	if !found {
		bad("federation.server_name: %q must name one of server_names (required with several)", sign)
	}
	if f.MaxRemoteSize < 0 || f.MaxRemoteSize > maxUpload {
		bad("federation.max_remote_size: %d is not within 0..media.max_upload_size (%d)", f.MaxRemoteSize, maxUpload)
	}
	if f.FetchTimeout < 0 {
		bad("federation.fetch_timeout: must be ≥ 0")
	}
	if f.RemoteQuota < 0 {
		bad("federation.remote_quota: must be ≥ 0 (0: unlimited)")
	}
	if f.RemoteRetention < 0 {
		bad("federation.remote_retention: must be ≥ 0 (0: keep forever)")
	}
	for _, p := range f.AllowedPeers {
		if p == "" || p == "*" || p == "*." {
			bad("federation.allowed_peers: %q is not a server name or *.domain (leave the list empty to allow all)", p)
		}
	}
	return errs
}
