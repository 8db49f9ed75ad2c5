package httpapi

import (
	"context"
	"net/http"
)

// anonymousOf returns the client address of a request admitted without a
// token ("" for authenticated requests).
func anonymousOf(ctx context.Context) string {
	s, _ := ctx.Value(keyAnonymous).(string)
	return s
}

// requester names who made the request for logs and histories: the user
// ID, or "anonymous <address>" for a token-less content-scanner request.
func requester(ctx context.Context) string {
	if addr := anonymousOf(ctx); addr != "" {
		return "anonymous " + addr
	}
	return userID(ctx)
}

// rateKey is the bucket a request's rate limits draw from: its user, or
// its client address when it came without a token.
func rateKey(ctx context.Context) string {
	if addr := anonymousOf(ctx); addr != "" {
		return "anonymous " + addr
	}
	return userID(ctx)
}

// admitAnonymous decides whether a request without a token may use a
// content-scanner route: only with content_scanner.allow_unauthenticated,
// only when it sent no Authorization header at all (a bad token is still
// 401), and within the per-address limit. It returns the context of the
// admitted request, or ok=false when the request must authenticate.
func (a *API) admitAnonymous(r *http.Request, ctx context.Context, rt route) (context.Context, bool, error) {
	if !a.opts.Scanner.AllowUnauthenticated || !isScannerRoute(rt.path) || r.Header.Get("Authorization") != "" {
		return ctx, false, nil
	}
	if err := a.anonymous.Allow(r); err != nil {
		return ctx, false, err
	}
	addr := a.opts.ClientAddrs.Of(r)
	a.log.Info("anonymous content-scanner request", "request_id", requestID(ctx), "route", rt.name,
		"client", addr, "user", "anonymous")
	return context.WithValue(ctx, keyAnonymous, addr), true, nil
}
