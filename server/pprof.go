//go:build pprof

package main

import (
	"net/http"
	"net/http/pprof"
)

// Built only with -tags pprof (the load program's profiling runs): Go's profiling endpoints on the metrics
// port, which the load balancer never forwards. The production image is built without them.
func init() {
	debugRoutes = func(mux *http.ServeMux) {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
}
