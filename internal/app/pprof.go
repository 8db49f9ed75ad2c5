package app

import (
	"net/http"
	"net/http/pprof"
)

// AddProfiling serves Go's runtime profiles under /debug/pprof/ on an
// admin mux (http.pprof: true). They show goroutine stacks and memory
// contents by function name, never request data, but they cost CPU while
// taken and are a way to load the process: they are off by default and
// live only on the admin listener, which the public reverse proxy never
// routes.
func AddProfiling(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
