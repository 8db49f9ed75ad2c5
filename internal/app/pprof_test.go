package app

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/config"
)

// TestProfilingOnlyWhenConfigured: /debug/pprof/ is on the admin
// listener only with http.pprof: true, and never on by default.
func TestProfilingOnlyWhenConfigured(t *testing.T) {
	for _, on := range []bool{false, true} {
		cfg := config.Default()
		if cfg.HTTP.Pprof {
			t.Fatal("http.pprof is on by default")
		}
		cfg.HTTP.Pprof = on
		s := &Server{cfg: cfg, registry: prometheus.NewRegistry(), health: NewHealth()}
		h := s.adminHandler()
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/allocs"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			want := http.StatusNotFound
			if on {
				want = http.StatusOK
			}
			if rec.Code != want {
				t.Errorf("pprof %t: GET %s = %d, want %d", on, path, rec.Code, want)
			}
		}
	}
}
