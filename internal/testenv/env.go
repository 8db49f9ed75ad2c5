// Package testenv gives tests the real services that scripts/testenv
// starts (MinIO, clamd), an embedded NATS server with JetStream, private
// clamd instances for tests that stop and restart it, and sample files in
// real formats (EICAR, zip, nested zip, zip bomb, PDF, PNG, random data).
//
// Only tests import it. A test that needs a service whose environment
// variable is missing fails with a message saying to run `make test`;
// nothing is skipped.
package testenv

import (
	"os"
	"strconv"
	"testing"
)

// Environment variables exported by `scripts/testenv env`.
const (
	EnvS3Endpoint  = "MEDIAREPO_TEST_S3_ENDPOINT"
	EnvS3AccessKey = "MEDIAREPO_TEST_S3_ACCESS_KEY"
	EnvS3SecretKey = "MEDIAREPO_TEST_S3_SECRET_KEY"
	EnvMinIOBin    = "MEDIAREPO_TEST_MINIO_BIN"
	// The second S3 server (SeaweedFS), for the storage conformance suite.
	EnvS3BEndpoint    = "MEDIAREPO_TEST_S3B_ENDPOINT"
	EnvS3BAccessKey   = "MEDIAREPO_TEST_S3B_ACCESS_KEY"
	EnvS3BSecretKey   = "MEDIAREPO_TEST_S3B_SECRET_KEY"
	EnvClamdAddr      = "MEDIAREPO_TEST_CLAMD_ADDR"
	EnvClamdSocket    = "MEDIAREPO_TEST_CLAMD_SOCKET"
	EnvClamdStreamMax = "MEDIAREPO_TEST_CLAMD_STREAM_MAX"
	EnvClamdConf      = "MEDIAREPO_TEST_CLAMD_CONF"
	EnvClamdDB        = "MEDIAREPO_TEST_CLAMD_DB"
	EnvClamdBin       = "MEDIAREPO_TEST_CLAMD_BIN"
)

// S3Env is how to reach the test MinIO server (plain HTTP on loopback).
type S3Env struct {
	// Endpoint is host:port, without scheme.
	Endpoint  string
	AccessKey string
	SecretKey string
}

// Getenv returns the variable's value, or fails the test with a message
// that names the variable and says to run the tests with `make test`.
func Getenv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: this test needs the real services; run `make test` "+
			"(or `eval \"$(scripts/testenv env)\"` after `scripts/testenv up`)", name)
	}
	return v
}

// S3 returns the test MinIO's endpoint and credentials.
func S3(t testing.TB) S3Env {
	t.Helper()
	return S3Env{
		Endpoint:  Getenv(t, EnvS3Endpoint),
		AccessKey: Getenv(t, EnvS3AccessKey),
		SecretKey: Getenv(t, EnvS3SecretKey),
	}
}

// S3Servers returns every S3 server of the test environment by name:
// "minio" and "seaweedfs". Backend tests run against each; a missing one
// fails the test.
func S3Servers(t testing.TB) map[string]S3Env {
	t.Helper()
	return map[string]S3Env{
		"minio": S3(t),
		"seaweedfs": {
			Endpoint:  Getenv(t, EnvS3BEndpoint),
			AccessKey: Getenv(t, EnvS3BAccessKey),
			SecretKey: Getenv(t, EnvS3BSecretKey),
		},
	}
}

// ClamdAddr returns the shared test clamd's TCP address, "tcp://127.0.0.1:13310".
func ClamdAddr(t testing.TB) string {
	t.Helper()
	return Getenv(t, EnvClamdAddr)
}

// ClamdSocketAddr returns the shared test clamd's unix socket address,
// "unix:///.../clamd.sock".
func ClamdSocketAddr(t testing.TB) string {
	t.Helper()
	return "unix://" + Getenv(t, EnvClamdSocket)
}

// ClamdStreamMax returns the test clamd's StreamMaxLength in bytes.
func ClamdStreamMax(t testing.TB) int64 {
	t.Helper()
	s := Getenv(t, EnvClamdStreamMax)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number of bytes", EnvClamdStreamMax, s)
	}
	return n
}
