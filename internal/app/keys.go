package app

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/sealed"
)

// MasterKeyDir returns the directory holding the master keys.
func MasterKeyDir(cfg config.Config) string {
	if cfg.Keys.MasterKeyDir != "" {
		return cfg.Keys.MasterKeyDir
	}
	return filepath.Join(cfg.DataDir, "keys")
}

// LoadMasterKeys loads the sealing keyring. Only the embedded default
// generates a key when the directory holds none (and says loudly to back
// it up); every other mode refuses to start without keys, because replicas
// must share them.
func LoadMasterKeys(cfg config.Config, log *slog.Logger) (*sealed.Keyring, error) {
	dir := MasterKeyDir(cfg)
	kr, err := sealed.LoadKeyring(dir)
	if err == nil || !cfg.Embedded {
		return kr, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("master key directory: %w", err)
	}
	entries, rerr := os.ReadDir(dir)
	if rerr != nil {
		return nil, fmt.Errorf("master key directory: %w", rerr)
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) == sealed.KeyFileSuffix {
			return nil, err // a key exists but is broken: never paper over it
		}
	}
	path := filepath.Join(dir, time.Now().UTC().Format("2006-01-02")+sealed.KeyFileSuffix)
	if gerr := sealed.GenerateKeyFile(path); gerr != nil && !errors.Is(gerr, fs.ErrExist) {
		return nil, gerr
	}
	log.Warn("GENERATED A NEW MASTER KEY: back it up; without it no stored media can be read", "file", path)
	return sealed.LoadKeyring(dir)
}
