// Package config holds mediarepo's typed configuration: defaults, strict
// YAML decoding (unknown keys fail), environment overrides and one
// Validate that reports every problem at once. Secrets are never values
// here: the config names files that hold them.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of mediarepo and scanworker.
type Config struct {
	// Listen is the public (client-server API) listener address.
	Listen string `yaml:"listen"`
	// AdminListen is the admin listener (officers, /metrics, health);
	// never routed by the public reverse proxy.
	AdminListen string `yaml:"admin_listen"`
	// DataDir holds local state: the embedded NATS store, the filesystem
	// blob store and, in the embedded default, generated keys and tokens.
	DataDir string `yaml:"data_dir"`
	// Embedded selects the embedded default: in-process NATS, generated
	// keys on first start, static development token allowed.
	Embedded bool `yaml:"embedded"`

	Servers []ServerName `yaml:"server_names"`
	Auth    Auth         `yaml:"auth"`
	Storage Storage      `yaml:"storage"`
	Keys    Keys         `yaml:"keys"`
	NATS    NATS         `yaml:"nats"`
	Scan    Scan         `yaml:"scan"`
	// Reports sends infection reports to a central place.
	Reports Reports `yaml:"reports"`
	Media   Media   `yaml:"media"`
	Limits  Limits  `yaml:"limits"`
	HTTP    HTTP    `yaml:"http"`
	// ContentScanner configures Element's content-scanner API.
	ContentScanner ContentScanner `yaml:"content_scanner"`
	// Thumbnails configures thumbnail generation.
	Thumbnails Thumbnails `yaml:"thumbnails"`
	// Officers configures the security officers' review.
	Officers Officers `yaml:"officers"`
	// Federation configures the server-server media API (federation.go).
	Federation Federation `yaml:"federation"`
	// URLPreview configures URL previews (preview.go).
	URLPreview URLPreview `yaml:"url_preview"`
	// Catalog selects the catalog backend (catalog.go).
	Catalog Catalog `yaml:"catalog"`
	// Maintenance configures the reconciler (maintenance.go).
	Maintenance Maintenance `yaml:"maintenance"`
	// Quotas configures per-user storage quotas (quotas.go).
	Quotas Quotas `yaml:"quotas"`
}

// ServerName is one Matrix server name served by this mediarepo and the
// homeserver that validates its users' tokens.
type ServerName struct {
	// Name is the Matrix server name (the mxc:// authority), e.g. "example.org".
	Name string `yaml:"name"`
	// Hosts are the HTTP Host values that select this server name
	// (default: Name).
	Hosts []string `yaml:"hosts"`
	// Homeserver is the base URL whose /_matrix/client/v3/account/whoami
	// checks access tokens.
	Homeserver string `yaml:"homeserver"`
}

// Auth configures access-token checks.
type Auth struct {
	// Mode is "whoami" (ask the homeserver) or "static" (embedded default
	// only: the tokens in StaticTokensFile).
	Mode string `yaml:"mode"`
	// StaticTokensFile holds lines "TOKEN USER_ID" for static mode.
	StaticTokensFile string `yaml:"static_tokens_file"`
	// CacheTTL is how long a valid token is trusted without asking again.
	CacheTTL Duration `yaml:"cache_ttl"`
	// NegativeTTL is how long an unknown token is remembered as unknown.
	NegativeTTL Duration `yaml:"negative_ttl"`
	// Timeout bounds one whoami request.
	Timeout Duration `yaml:"timeout"`
	// GuestUploads lets guest accounts (whoami's is_guest) upload; by
	// default they may only download (MSC4189).
	GuestUploads bool `yaml:"guest_uploads"`
}

// Storage selects and configures the blob backend.
type Storage struct {
	// Backend is "fs" or "s3".
	Backend string `yaml:"backend"`
	FS      FS     `yaml:"fs"`
	S3      S3     `yaml:"s3"`
}

// FS configures the filesystem blob store.
type FS struct {
	// Root is the directory (default DataDir/blobs).
	Root string `yaml:"root"`
}

// S3 configures an S3-compatible blob store.
type S3 struct {
	Endpoint string `yaml:"endpoint"`
	Bucket   string `yaml:"bucket"`
	Region   string `yaml:"region"`
	UseTLS   bool   `yaml:"use_tls"`
	// AccessKeyFile and SecretKeyFile name files holding the credentials.
	AccessKeyFile string `yaml:"access_key_file"`
	SecretKeyFile string `yaml:"secret_key_file"`
	// PartSize is the multipart part size in bytes (bounded memory).
	PartSize ByteSize `yaml:"part_size"`
	// Concurrency is the number of parts uploaded at once.
	Concurrency int `yaml:"concurrency"`
}

// Keys names the files with key material.
type Keys struct {
	// MasterKeyDir holds the master keys for sealing blobs
	// (env MEDIAREPO_MASTER_KEY_DIR overrides).
	MasterKeyDir string `yaml:"master_key_dir"`
}

// NATS configures the catalog and queue connection.
type NATS struct {
	// URL of the NATS cluster; empty in the embedded default.
	URL string `yaml:"url"`
	// CredentialsFile is an optional NATS .creds file.
	CredentialsFile string `yaml:"credentials_file"`
	// Replicas for KV buckets and streams (1 embedded, 3 in a cluster).
	Replicas int `yaml:"replicas"`
	// SyncInterval of the embedded server's file store: "always" fsyncs
	// every write (see README, Jepsen NATS 2.12), or a duration.
	SyncInterval string `yaml:"sync_interval"`
}

// Scan configures scanning.
type Scan struct {
	// Clamd is the clamd address, tcp://host:port or unix:///path: a
	// one-engine list (see Engines; set one of the two).
	Clamd string `yaml:"clamd"`
	// Engines are the scan engines (clamd, ICAP) that judge every upload
	// together, concurrently.
	Engines []Engine `yaml:"engines"`
	// Policy combines the engines' verdicts: "all" (default: clean only if
	// every engine says clean, infected if any says infected) or its
	// synonym "any-infected-quarantines".
	Policy string `yaml:"policy"`
	// StreamMaxLength must equal clamd's StreamMaxLength; the upload cap
	// may not exceed it.
	StreamMaxLength ByteSize `yaml:"stream_max_length"`
	// Workers is the number of in-process scan workers (embedded default;
	// 0 when separate scanworkers run).
	Workers int `yaml:"workers"`
	// Timeout bounds one scan.
	Timeout Duration `yaml:"timeout"`
	// MaxDeliver bounds how often a job is tried before the media is blocked.
	MaxDeliver int `yaml:"max_deliver"`
	// AckWait is how long a job may run without an InProgress heartbeat.
	AckWait Duration `yaml:"ack_wait"`
	// UploadWait lets an upload wait this long for its verdict, so an
	// infected upload is refused at once (0: do not wait).
	UploadWait Duration `yaml:"upload_wait"`
	// MaxSignatureAge: /readyz fails when clamd's signatures are older
	// (BSI OPS.1.1.4 wants them current; freshclam updates several times
	// a day).
	MaxSignatureAge Duration `yaml:"max_signature_age"`
	// RescanWindow: when an engine's signatures change, clean media
	// uploaded this long before are scanned again (BSI OPS.1.1.4 A6).
	RescanWindow Duration `yaml:"rescan_window"`
	// RescanRate is how many media per second the rescan handles, on the
	// one replica holding the reconciler lease; 0 disables rescans.
	RescanRate float64 `yaml:"rescan_rate"`
	// DevMarkClean marks uploads clean without scanning. Development only;
	// logged as a warning at every start.
	DevMarkClean bool `yaml:"dev_mark_clean"`
}

// ContentScanner configures Element's content-scanner API
// (/_matrix/media_proxy/unstable) for encrypted attachments.
type ContentScanner struct {
	// KeyFile holds the Curve25519 secret of encrypted_body (base64 of 32
	// bytes; every replica mounts the same file). Default in the embedded
	// default: DataDir/content-scanner.key, generated on first start.
	KeyFile string `yaml:"key_file"`
	// Wait is how long the scanner endpoints wait for a verdict before
	// 504 MCS_MEDIA_REQUEST_FAILED (capped by media.max_download_wait).
	// Default 15 s: shorter than the clients' own request timeouts (Element
	// X: 30 s), so the 504 arrives while they still listen.
	Wait Duration `yaml:"wait"`
	// AllowUnauthenticated admits requests without an access token on the
	// scanner's media routes (download, thumbnail, scan, scan_encrypted,
	// download_encrypted), as the Python scanner does: the legacy Element
	// Android line (BundesMessenger Android) never sends one. Off by
	// default. Such requests get exactly what a token would get and are
	// logged as anonymous.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// AnonymousPerSecond and AnonymousBurst limit token-less requests per
	// client address (http.trusted_proxies decides what the address is).
	AnonymousPerSecond float64 `yaml:"anonymous_per_second"`
	AnonymousBurst     int     `yaml:"anonymous_burst"`
}

// Thumbnails configures thumbnails of clean images (PNG, JPEG, GIF, WebP
// decoded in pure Go; never external decoders).
type Thumbnails struct {
	// Enabled serves thumbnails (default true); off answers 404.
	Enabled bool `yaml:"enabled"`
	// MaxPixels refuses images whose header claims more pixels (decoding
	// bombs), before anything is decoded.
	MaxPixels int64 `yaml:"max_pixels"`
	// MaxFrames refuses GIFs with more frames.
	MaxFrames int `yaml:"max_frames"`
	// Concurrency bounds thumbnails generated at once (each may hold tens
	// of MB while decoding).
	Concurrency int `yaml:"concurrency"`
}

// Media configures upload and download rules.
type Media struct {
	// MaxUploadSize caps uploads (≤ Scan.StreamMaxLength, ≤ 2 GiB).
	MaxUploadSize ByteSize `yaml:"max_upload_size"`
	// BlockedTypes are sniffed or declared MIME types refused at upload
	// ("application/x-msdownload", "image/svg+xml"; a trailing "/*"
	// matches a whole family).
	BlockedTypes []string `yaml:"blocked_types"`
	// UnusedExpiresAfter is how long a created (async) media ID waits for
	// its upload.
	UnusedExpiresAfter Duration `yaml:"unused_expires_after"`
	// MaxPendingCreates per user.
	MaxPendingCreates int `yaml:"max_pending_creates"`
	// MaxDownloadWait caps timeout_ms of downloads.
	MaxDownloadWait Duration `yaml:"max_download_wait"`
	// OpaqueContent decides what the endpoints that serve without a key do
	// with content that looks encrypted (no known type, random bytes):
	// "refuse" (default, fail closed: only the content scanner serves it,
	// with its key) or "serve" (plain Element clients, whose encrypted
	// attachments are then served after a scan of the ciphertext only).
	OpaqueContent string `yaml:"opaque_content"`
	// LegacyFreeze: media uploaded after this time is not served on the
	// deprecated unauthenticated /_matrix/media/v3/download (RFC 3339;
	// empty: no freeze). Default DefaultLegacyFreeze: with federation
	// endpoints in place, new media is served only on the authenticated
	// endpoints (spec v1.11).
	LegacyFreeze string `yaml:"legacy_freeze"`
}

// Limits are rate limits (token buckets): per user, and per client
// address where there is no user (yet).
type Limits struct {
	UploadsPerSecond   float64 `yaml:"uploads_per_second"`
	UploadBurst        int     `yaml:"upload_burst"`
	DownloadsPerSecond float64 `yaml:"downloads_per_second"`
	DownloadBurst      int     `yaml:"download_burst"`
	// UnauthenticatedPerSecond and UnauthenticatedBurst limit the routes
	// that need no token (legacy download and thumbnail, public_key,
	// federation key fetches for unknown origins), per client address.
	UnauthenticatedPerSecond float64 `yaml:"unauthenticated_per_second"`
	UnauthenticatedBurst     int     `yaml:"unauthenticated_burst"`
	// FailedAuthPerSecond and FailedAuthBurst limit failed token checks
	// per client address; past them a request is refused (429) before its
	// token is sent to the homeserver.
	FailedAuthPerSecond float64 `yaml:"failed_auth_per_second"`
	FailedAuthBurst     int     `yaml:"failed_auth_burst"`
	// ScansPerSecond and ScanBurst limit each user's requests to the
	// content scanner's scan, scan_encrypted and download_encrypted.
	ScansPerSecond float64 `yaml:"scans_per_second"`
	ScanBurst      int     `yaml:"scan_burst"`
	// MaxConcurrentScans bounds content-scanner checks in flight on one
	// replica (each may decrypt and scan a whole file); past it 503.
	MaxConcurrentScans int `yaml:"max_concurrent_scans"`
	// MemoryBudget bounds what uploads and remote fetches in flight may
	// buffer together on one replica: each is charged what the store
	// holds for it (S3: part_size × concurrency for a large upload of
	// known size, one part_size for an unknown size, 256 KiB otherwise).
	// Past it an upload is refused at once (429 with Retry-After).
	MemoryBudget ByteSize `yaml:"memory_budget"`
	// MaxUploadsPerUser bounds one user's uploads in flight.
	MaxUploadsPerUser int `yaml:"max_uploads_per_user"`
}

// HTTP hardens the listeners.
type HTTP struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// MinBodyRate in bytes/s: a request body slower than this (averaged
	// after a grace period) is cut off.
	MinBodyRate ByteSize `yaml:"min_body_rate"`
	// IdleTimeout for keep-alive connections.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// TrustedProxies are the reverse proxies (CIDRs) whose
	// X-Forwarded-For names the client address for the per-address
	// limits; from anyone else the header is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Pprof serves Go's runtime profiles (/debug/pprof/) on the admin
	// listener, for profiling under load; off by default.
	Pprof bool `yaml:"pprof"`
}

// DefaultLegacyFreeze is the default media.legacy_freeze: the release that
// added the federation media endpoints (2026-11-23). Media uploaded since
// is served only on the authenticated endpoints.
const DefaultLegacyFreeze = "2026-11-23T00:00:00Z"

// Default returns the embedded default configuration.
func Default() Config {
	return Config{
		Listen:      "127.0.0.1:8008",
		AdminListen: "127.0.0.1:8009",
		DataDir:     ".mediarepo",
		Embedded:    true,
		Servers:     []ServerName{{Name: "localhost"}},
		Auth: Auth{Mode: "static", CacheTTL: Duration(time.Minute),
			NegativeTTL: Duration(10 * time.Second), Timeout: Duration(5 * time.Second)},
		Storage: Storage{Backend: "fs", S3: S3{PartSize: 16 << 20, Concurrency: 2}},
		NATS:    NATS{Replicas: 1, SyncInterval: "always"},
		Catalog: defaultCatalog(),
		Scan: Scan{StreamMaxLength: 100 << 20, Workers: 2, Timeout: Duration(5 * time.Minute),
			MaxDeliver: 5, AckWait: Duration(30 * time.Second), MaxSignatureAge: Duration(48 * time.Hour),
			RescanWindow: Duration(7 * 24 * time.Hour), RescanRate: 10},
		Media: Media{MaxUploadSize: 100 << 20,
			BlockedTypes:       []string{"application/x-msdownload", "application/x-executable", "application/vnd.microsoft.portable-executable"},
			UnusedExpiresAfter: Duration(24 * time.Hour), MaxPendingCreates: 10,
			MaxDownloadWait: Duration(60 * time.Second), OpaqueContent: "refuse", LegacyFreeze: DefaultLegacyFreeze},
		ContentScanner: ContentScanner{Wait: Duration(15 * time.Second), AnonymousPerSecond: 10, AnonymousBurst: 50},
		Thumbnails:     Thumbnails{Enabled: true, MaxPixels: 32_000_000, MaxFrames: 500, Concurrency: 2},
		Limits: Limits{UploadsPerSecond: 50, UploadBurst: 100, DownloadsPerSecond: 200, DownloadBurst: 400,
			UnauthenticatedPerSecond: 10, UnauthenticatedBurst: 20, FailedAuthPerSecond: 1, FailedAuthBurst: 10,
			ScansPerSecond: 2, ScanBurst: 20, MaxConcurrentScans: 8, MemoryBudget: 512 << 20, MaxUploadsPerUser: 16},
		HTTP: HTTP{ReadHeaderTimeout: Duration(10 * time.Second), MinBodyRate: 1024,
			IdleTimeout: Duration(2 * time.Minute)},
		URLPreview:  defaultURLPreview(),
		Maintenance: defaultMaintenance(),
	}
}

// Load reads the YAML file at path over the defaults (an empty path keeps
// the defaults), applies environment overrides and validates the result.
func Load(path string, env func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if err := Decode(bytes.NewReader(b), &cfg); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := cfg.ApplyEnv(env); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Decode decodes YAML strictly into cfg: unknown keys are errors.
func Decode(r io.Reader, cfg *Config) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
