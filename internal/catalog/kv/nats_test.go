package kv

import (
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

// startJetStream is testenv.JetStream: a real embedded NATS server.
func startJetStream(t *testing.T) jetstream.JetStream { return testenv.JetStream(t) }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}
