package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	mfed "maunium.net/go/mautrix/federation"
	"maunium.net/go/mautrix/federation/signutil"

	"github.com/mediarepo/mediarepo/internal/media"
)

// maxSignedBody caps the JSON body of a signed request.
const maxSignedBody = 1 << 20

// Peer is the authenticated origin of a federation request.
type Peer struct {
	// Origin is the requesting server.
	Origin string
	// Destination is our server name the request was signed for.
	Destination string
}

// Verifier authenticates incoming federation requests (X-Matrix).
type Verifier struct {
	keys *KeyStore
	acl  *PeerACL
	ours func(string) bool
	// gate, when set, is asked before keys of an origin that are not
	// cached are fetched (SetFetchGate).
	gate func(r *http.Request) error
}

// SetFetchGate makes Verify call gate before it fetches the keys of an
// origin it has none of: an unauthenticated request may name any
// host:port as its origin, and each such name costs an outgoing
// connection. An error from gate refuses the request as it is (a rate
// limit's error, say), with nothing fetched. Call it before serving.
func (v *Verifier) SetFetchGate(gate func(r *http.Request) error) { v.gate = gate }

// NewVerifier returns a Verifier. ours reports whether a server name is
// served here (a request signed for another destination is refused).
func NewVerifier(keys *KeyStore, acl *PeerACL, ours func(string) bool) *Verifier {
	return &Verifier{keys: keys, acl: acl, ours: ours}
}

// signedRequest is the JSON object an X-Matrix signature covers.
type signedRequest struct {
	Method      string          `json:"method"`
	URI         string          `json:"uri"`
	Origin      string          `json:"origin"`
	Destination string          `json:"destination"`
	Content     json.RawMessage `json:"content,omitempty"`
}

// Verify checks the request's X-Matrix authorization: the origin is a
// valid server name on the allow-list (ErrPeerNotAllowed, before any key
// is fetched), the destination is ours (host is the served name the Host
// header picked, used when the header names no destination), and one
// X-Matrix header's signature verifies with the origin's current key over
// method, URI, origin, destination and the JSON body. Other failures wrap
// ErrUnauthorized. A request body is read (up to 1 MiB) and replaced.
func (v *Verifier) Verify(r *http.Request, host string) (Peer, error) {
	var auths []mfed.XMatrixAuth
	for _, h := range r.Header.Values("Authorization") {
		if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "X-Matrix") {
			auths = append(auths, mfed.ParseXMatrixAuth("X-Matrix "+strings.TrimSpace(rest)))
		}
	}
	if len(auths) == 0 {
		return Peer{}, fmt.Errorf("%w: no X-Matrix authorization", ErrUnauthorized)
	}
	content, err := signedBody(r)
	if err != nil {
		return Peer{}, err
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	var last error
	for _, a := range auths {
		p, err := v.verifyOne(r, a, host, uri, content)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, ErrPeerNotAllowed) || !errors.Is(err, ErrUnauthorized) {
			return Peer{}, err // refused as such (the peer list, the fetch gate)
		}
		last = err
	}
	return Peer{}, last
}

func (v *Verifier) verifyOne(r *http.Request, a mfed.XMatrixAuth, host, uri string, content json.RawMessage) (Peer, error) {
	if a.Origin == "" || a.KeyID == "" || a.Signature == "" {
		return Peer{}, fmt.Errorf("%w: X-Matrix lacks origin, key or sig", ErrUnauthorized)
	}
	if err := media.ValidateServerName(a.Origin); err != nil {
		return Peer{}, fmt.Errorf("%w: origin: %v", ErrUnauthorized, err)
	}
	dest := a.Destination
	if dest == "" {
		dest = host
	}
	if dest == "" || !v.ours(dest) {
		return Peer{}, fmt.Errorf("%w: destination %q is not served here", ErrUnauthorized, dest)
	}
	if err := v.acl.Check(a.Origin); err != nil {
		return Peer{}, err
	}
	if v.gate != nil && !v.keys.Known(a.Origin) {
		if err := v.gate(r); err != nil {
			return Peer{}, err
		}
	}
	key, err := v.keys.Key(r.Context(), a.Origin, a.KeyID)
	if err != nil {
		return Peer{}, err
	}
	msg, err := json.Marshal(signedRequest{Method: r.Method, URI: uri, Origin: a.Origin, Destination: dest, Content: content})
	if err != nil {
		return Peer{}, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	if err := signutil.VerifyJSONRaw(key, a.Signature, msg); err != nil {
		return Peer{}, fmt.Errorf("%w: signature of %s with %s: %v", ErrUnauthorized, a.Origin, a.KeyID, err)
	}
	return Peer{Origin: a.Origin, Destination: dest}, nil
}

// signedBody reads a JSON request body for the signature check and puts
// it back for the handler. GET and HEAD have none.
func signedBody(r *http.Request) (json.RawMessage, error) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Body == nil || r.ContentLength == 0 {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxSignedBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading body: %v", ErrUnauthorized, err)
	}
	if len(b) > maxSignedBody {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrUnauthorized, maxSignedBody)
	}
	if len(b) == 0 {
		return nil, nil
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%w: body is not JSON", ErrUnauthorized)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}
