package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
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

// Postgres is a private PostgreSQL cluster for one test (initdb in a
// temporary folder, its own loopback port), so that the test can stop and
// start it without disturbing other tests. As root, the cluster runs as the
// `postgres` user (PostgreSQL refuses root).
type Postgres struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	// URL is the superuser URL of its "postgres" database.
	URL string
}

// StartPostgres creates and starts a private cluster and stops it when
// the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := Getenv(t, EnvPostgresBin)
	dir, err := os.MkdirTemp("", "mediarepo-pg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user (package postgresql): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &Postgres{t: t, bin: bin, dir: dir, port: port,
		URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	p.run("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "--no-sync")
	p.Start()
	t.Cleanup(func() {
		if p.running() {
			p.Stop()
		}
	})
	return p
}

func (p *Postgres) run(prog string, args ...string) {
	p.t.Helper()
	name, all := filepath.Join(p.bin, prog), args
	if os.Geteuid() == 0 {
		name, all = "runuser", append([]string{"-u", "postgres", "--", filepath.Join(p.bin, prog)}, args...)
	}
	cmd := exec.Command(name, all...)
	cmd.Dir = p.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s %v: %v\n%s", prog, args, err, out)
	}
}

func (p *Postgres) running() bool {
	_, err := os.Stat(filepath.Join(p.dir, "data", "postmaster.pid"))
	return err == nil
}

// Start starts the cluster and waits until it accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-l", filepath.Join(p.dir, "log"), "-w", "-t", "30",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", p.port, p.dir), "start")
}

// Stop stops the cluster (fast shutdown: open connections are closed).
func (p *Postgres) Stop() {
	p.t.Helper()
	p.run("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", "fast", "-w", "-t", "30", "stop")
}
