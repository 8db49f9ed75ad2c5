package app

import (
	"log/slog"
	"os"
)

// NewLogger returns the JSON logger of mediarepo and scanworker, on
// stderr, at the level MEDIAREPO_LOG_LEVEL names (debug, info, warn,
// error; info when unset or unknown).
func NewLogger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(os.Getenv("MEDIAREPO_LOG_LEVEL"))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
