// Package federation is mediarepo's side of the Matrix server-server API
// for media (spec v1.11+, "Content repository" over federation):
//
//   - the homeserver's signing key, read from a Synapse-format key file
//     ("ed25519 <key_id> <unpadded base64 seed>"), which signs our
//     outgoing requests (X-Matrix authorization);
//   - other servers' signing keys, fetched directly from their
//     /_matrix/key/v2/server and cached within their valid_until_ts
//     (at most 7 days); notary servers (perspectives) are not consulted;
//   - the verification of incoming X-Matrix requests against those keys,
//     after the peer allow-list;
//   - the client that downloads remote media: server names resolved per
//     the spec (IP literal or explicit port, .well-known/matrix/server,
//     SRV _matrix-fed._tcp then _matrix._tcp, port 8448) through mautrix's
//     ServerResolvingTransport, every connection made by a dialer that
//     checks the resolved address at dial time (so DNS rebinding and
//     redirects are re-checked), capped in size and time, and the
//     multipart/mixed answer parsed (JSON metadata, then the bytes or a
//     Location to follow under the same rules).
//
// Signing, canonical JSON and server-name resolution come from mautrix's
// federation package; this package adds the checks mautrix leaves to its
// callers (key response server_name and expiry, address policy, sizes).
// It knows no catalog and no storage.
package federation
