package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/queue"
)

// embeddedNATS starts a JetStream server storing under dir, as the
// embedded default does, and connects to it.
func embeddedNATS(dir string) (jetstream.JetStream, func(), error) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		return nil, nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Minute) {
		s.Shutdown()
		return nil, nil, fmt.Errorf("embedded NATS not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		s.Shutdown()
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		s.Shutdown()
		return nil, nil, err
	}
	return js, func() { nc.Close(); s.Shutdown(); s.WaitForShutdown() }, nil
}

// openScale opens the backend's catalog as a restarted mediarepo does.
func openScale(ctx context.Context, backend, dir, dsn string, log *slog.Logger) (*scaleCatalog, error) {
	switch backend {
	case "kv":
		js, stop, err := embeddedNATS(filepath.Join(dir, "nats"))
		if err != nil {
			return nil, err
		}
		c, err := kv.New(ctx, js, kv.Options{}, log, nil)
		if err != nil {
			stop()
			return nil, err
		}
		q, err := queue.New(ctx, js, queue.Options{}, log, nil)
		if err != nil {
			stop()
			return nil, err
		}
		return &scaleCatalog{cat: c, queue: q, note: ", embedded NATS in the process",
			close: func() { _ = c.Close(); stop() }}, nil
	}
	return nil, fmt.Errorf("unknown backend %q", backend)
}

// scaleBackend fills the backend and measures it in a child process.
func scaleBackend(f scaleFlags, backend string) (scaleResult, error) {
	ctx := context.Background()
	res := scaleResult{Backend: backend, N: f.n, Filled: f.n - f.from}
	log := slog.New(slog.DiscardHandler)
	switch backend {
	case "kv":
		sc, err := openScale(ctx, backend, f.dir, f.dsn, log)
		if err != nil {
			return res, err
		}
		d, err := fill(ctx, sc.cat, f)
		sc.close()
		if err != nil {
			return res, err
		}
		res.FillSeconds = d.Seconds()
		if res.DiskBytes, err = dirSize(filepath.Join(f.dir, "nats")); err != nil {
			return res, err
		}
	default:
		return res, fmt.Errorf("unknown backend %q", backend)
	}
	child, err := runChild("-backend", backend, "-dir", f.dir, "-postgres-dsn", f.dsn, "-samples", fmt.Sprint(f.samples))
	if err != nil {
		return res, err
	}
	child.FillNote = fmt.Sprintf("%d writers", f.writers)
	if backend == "kv" {
		child.FillNote += ", embedded NATS, default sync_interval"
	}
	res.Child = child
	return res, nil
}
