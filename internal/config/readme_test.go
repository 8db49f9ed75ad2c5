package config

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeConfigReference decodes the configuration reference in the
// README strictly and validates it, so the documented keys and defaults
// stay the code's.
func TestReadmeConfigReference(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "<!-- config:begin -->")
	block, _, ok2 := strings.Cut(rest, "<!-- config:end -->")
	if !ok || !ok2 {
		t.Fatal("README has no config:begin/config:end block")
	}
	block = strings.TrimSpace(block)
	block = strings.TrimPrefix(block, "```yaml")
	block = strings.TrimSuffix(block, "```")
	cfg := Default()
	if err := Decode(strings.NewReader(block), &cfg); err != nil {
		t.Fatalf("README config reference: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("README config reference does not validate:\n%v", err)
	}
	if cfg.Auth.Mode != "whoami" || cfg.Storage.Backend != "s3" || cfg.NATS.Replicas != 3 {
		t.Fatalf("unexpected decode: %+v", cfg)
	}
}
