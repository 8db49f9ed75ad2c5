package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "30s", "5m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a size in bytes written as "100MiB", "16M", "2GiB" or a number.
type ByteSize int64

// UnmarshalYAML parses a byte size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// ParseByteSize parses "123", "10K", "10KiB", "100M", "100MiB", "2G", "2GiB"
// (all suffixes are powers of 1024, as clamd reads them).
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a byte size", s)
	}
	return ByteSize(n * mult), nil
}

// ApplyEnv applies the environment overrides (MEDIAREPO_*) that deployment
// tools set. env is os.Getenv in production.
func (c *Config) ApplyEnv(env func(string) string) error {
	if env == nil {
		env = os.Getenv
	}
	set := func(name string, dst *string) {
		if v := env(name); v != "" {
			*dst = v
		}
	}
	set("MEDIAREPO_LISTEN", &c.Listen)
	set("MEDIAREPO_ADMIN_LISTEN", &c.AdminListen)
	set("MEDIAREPO_DATA_DIR", &c.DataDir)
	set("MEDIAREPO_NATS_URL", &c.NATS.URL)
	set("MEDIAREPO_CLAMD", &c.Scan.Clamd)
	set("MEDIAREPO_MASTER_KEY_DIR", &c.Keys.MasterKeyDir)
	set("MEDIAREPO_CONTENT_SCANNER_KEY_FILE", &c.ContentScanner.KeyFile)
	set("MEDIAREPO_S3_ENDPOINT", &c.Storage.S3.Endpoint)
	set("MEDIAREPO_S3_BUCKET", &c.Storage.S3.Bucket)
	set("MEDIAREPO_CATALOG_BACKEND", &c.Catalog.Backend)
	set("MEDIAREPO_CATALOG_DSN_FILE", &c.Catalog.Postgres.DSNFile)
	if v := env("MEDIAREPO_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("MEDIAREPO_WORKERS: %q is not a number", v)
		}
		c.Scan.Workers = n
	}
	if v := env("MEDIAREPO_SERVER_NAME"); v != "" {
		c.Servers = []ServerName{{Name: v, Homeserver: env("MEDIAREPO_HOMESERVER")}}
	}
	return nil
}
