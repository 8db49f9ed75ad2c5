package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/storage/s3"
)

// OpenBackend is the one factory that chooses a blob backend by its
// configured name; nothing else in mediarepo branches on it.
func OpenBackend(ctx context.Context, cfg config.Config) (storage.Store, error) {
	switch cfg.Storage.Backend {
	case "fs":
		root := cfg.Storage.FS.Root
		if root == "" {
			root = filepath.Join(cfg.DataDir, "blobs")
		}
		return fs.New(root)
	case "s3":
		c := cfg.Storage.S3
		access, err := readSecret(c.AccessKeyFile)
		if err != nil {
			return nil, fmt.Errorf("storage.s3.access_key_file: %w", err)
		}
		secret, err := readSecret(c.SecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("storage.s3.secret_key_file: %w", err)
		}
		return s3.New(ctx, s3.Config{Endpoint: c.Endpoint, Bucket: c.Bucket, AccessKey: access,
			SecretKey: secret, Region: c.Region, UseTLS: c.UseTLS,
			PartSize: uint64(c.PartSize), Concurrency: uint(c.Concurrency)})
	}
	return nil, fmt.Errorf("storage.backend %q is not known", cfg.Storage.Backend)
}

// readSecret reads a one-line secret from a file.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
