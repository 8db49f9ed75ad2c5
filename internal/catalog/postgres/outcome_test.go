package postgres

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mediarepo/mediarepo/internal/catalog"
)

// TestUnknownOutcome: which failures of a sent write leave its outcome
// unknown. A connection that could not be made sent nothing (the fault
// test saw such uploads keep their blob for a collector whose intent had
// been lost); a cut connection or a cancellation after sending may have
// committed; an error the server reported did not.
func TestUnknownOutcome(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, refused := pgconn.Connect(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	var connErr *pgconn.ConnectError
	if !errors.As(refused, &connErr) {
		t.Fatalf("connecting to a closed port: %v, want a *pgconn.ConnectError", refused)
	}
	for _, tc := range []struct {
		name             string
		err              error
		unavail, unknown bool
	}{
		{"connection refused", refused, true, false},
		{"connection cut", io.ErrUnexpectedEOF, true, true},
		{"cancelled", context.Canceled, true, true},
		{"server error", &pgconn.PgError{Code: "23505"}, false, false},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, true, false},
	} {
		err := unknownOutcome("op", tc.err)
		if errors.Is(err, catalog.ErrUnavailable) != tc.unavail || errors.Is(err, catalog.ErrOutcomeUnknown) != tc.unknown {
			t.Errorf("%s: %v, want unavailable %v, unknown %v", tc.name, err, tc.unavail, tc.unknown)
		}
	}
}
