package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables of the test PostgreSQL (scripts/lib/postgres.bash).
const (
	// EnvPostgresURL is a superuser URL of the test cluster's "postgres"
	// database; tests create databases of their own from it.
	EnvPostgresURL = "MEDIAREPO_TEST_POSTGRES_URL"
	// EnvPostgresBin is the folder of PostgreSQL's programs (initdb,
	// pg_ctl), for tests that run a cluster of their own.
	EnvPostgresBin = "MEDIAREPO_TEST_POSTGRES_BIN"
)

// PostgresDB creates a fresh, empty database in the test PostgreSQL and
// returns its connection URL; the database is dropped when the test ends
// (connections still open are terminated).
func PostgresDB(t testing.TB) string {
	t.Helper()
	base := Getenv(t, EnvPostgresURL)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "test_" + hex.EncodeToString(b[:])
	adminExec(t, base, "CREATE DATABASE "+name)
	t.Cleanup(func() { adminExec(t, base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgresURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

func adminExec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("test PostgreSQL (is it running? run `make test`): %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("test PostgreSQL: %s: %v", sql, err)
	}
}
