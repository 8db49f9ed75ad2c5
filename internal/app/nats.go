// Package app builds mediarepo's parts from the configuration: the NATS
// connection (or the embedded server), the blob store factory, the
// catalog, the queue and the scanner. cmd/ programs call it and run what it
// returns; it holds no logic of the flows themselves.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/config"
)

// NATS is a connection to NATS with JetStream, and the embedded server
// when the configuration asks for none outside.
type NATS struct {
	Conn     *nats.Conn
	JS       jetstream.JetStream
	embedded *server.Server
}

// ConnectNATS connects to cfg.NATS.URL, or starts an embedded server with
// JetStream in DataDir/nats (in-process only: it listens on no port). The
// embedded store fsyncs every write when sync_interval is "always" (the
// default; see README on Jepsen's NATS 2.12 findings).
func ConnectNATS(ctx context.Context, cfg config.Config, log *slog.Logger) (*NATS, error) {
	n := &NATS{}
	var opts []nats.Option
	url := cfg.NATS.URL
	if url == "" {
		sopts := &server.Options{
			ServerName: "mediarepo-embedded",
			JetStream:  true,
			StoreDir:   filepath.Join(cfg.DataDir, "nats"),
			DontListen: true,
			NoSigs:     true,
			NoLog:      true,
		}
		if cfg.NATS.SyncInterval == "always" {
			sopts.SyncAlways = true
		} else {
			d, err := time.ParseDuration(cfg.NATS.SyncInterval)
			if err != nil {
				return nil, fmt.Errorf("nats.sync_interval: %w", err)
			}
			sopts.SyncInterval = d
		}
		s, err := server.NewServer(sopts)
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		go s.Start()
		if !s.ReadyForConnections(30 * time.Second) {
			s.Shutdown()
			return nil, fmt.Errorf("embedded NATS did not become ready")
		}
		n.embedded = s
		opts = append(opts, nats.InProcessServer(s))
		log.Info("embedded NATS with JetStream started", "store", sopts.StoreDir, "sync_always", sopts.SyncAlways)
	} else if cfg.NATS.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATS.CredentialsFile))
	}
	opts = append(opts, nats.Name("mediarepo"), nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("NATS reconnected", "url", c.ConnectedUrl()) }))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("connecting to NATS %s: %w", url, err)
	}
	n.Conn = nc
	js, err := jetstream.New(nc)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("JetStream: %w", err)
	}
	n.JS = js
	return n, nil
}

// Close drains the connection and stops the embedded server.
func (n *NATS) Close() {
	if n.Conn != nil {
		_ = n.Conn.Drain() // closing anyway; a drain error changes nothing
	}
	if n.embedded != nil {
		n.embedded.Shutdown()
		n.embedded.WaitForShutdown()
	}
}
