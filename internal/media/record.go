package media

import (
	"fmt"
	"time"
)

// State is where a media record stands in the state machine (design §2).
type State string

// The states. Only StateClean is ever served.
const (
	// StateReserved: an async upload created the ID; no content yet.
	StateReserved State = "reserved"
	// StatePending: content stored, awaiting a verdict. Not served.
	StatePending State = "pending"
	// StateClean: scanned clean or released by an officer. Served.
	StateClean State = "clean"
	// StateQuarantined: found infected or quarantined by an officer.
	StateQuarantined State = "quarantined"
	// StateBlocked: unscannable, scan failed after retries, or refused by
	// policy (type, hash blocklist).
	StateBlocked State = "blocked"
	// StateDeleted: a tombstone; the content is purged. Final.
	StateDeleted State = "deleted"
	// StateExpired: a reservation that never received content. Final.
	StateExpired State = "expired"
)

// States lists every state, in the order of the design's picture.
var States = []State{StateReserved, StatePending, StateClean, StateQuarantined, StateBlocked, StateDeleted, StateExpired}

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Result is the outcome of a scan or policy decision recorded in a Verdict.
type Result string

// The results.
const (
	// ResultClean: clamd answered a literal "stream: OK".
	ResultClean Result = "clean"
	// ResultInfected: a signature matched; Verdict.Signature names it.
	ResultInfected Result = "infected"
	// ResultUnscannable: size limits, encrypted archives, archive bombs.
	ResultUnscannable Result = "unscannable"
	// ResultFailed: the scan kept failing until the job's last delivery.
	ResultFailed Result = "failed"
	// ResultTypeForbidden: the type policy refuses the (sniffed) type.
	ResultTypeForbidden Result = "type_forbidden"
	// ResultHashBlocked: the SHA-256 is on the blocklist.
	ResultHashBlocked Result = "hash_blocked"
)

// Verdict is the result of one scan (or policy decision) of the stored
// bytes, with what produced it.
type Verdict struct {
	Result           Result    `json:"result"`
	Signature        string    `json:"signature,omitempty"`
	Engine           string    `json:"engine,omitempty"`
	EngineVersion    string    `json:"engine_version,omitempty"`
	SignatureVersion string    `json:"signature_version,omitempty"`
	ScannedAt        time.Time `json:"scanned_at"`
	Reason           string    `json:"reason,omitempty"`
	// Basis is what the verdict depends on besides the bytes (engines
	// with their versions and signature versions, the inspection's limits;
	// scan.ReuseBasis). Empty: the verdict is never reused (a signature
	// reload during the scan, an undated database, a policy decision).
	Basis string `json:"basis,omitempty"`
	// Engines holds each engine's finding when a list of engines
	// (scan.engines) judged the content; the fields above are then the
	// combined verdict (engine "name+name", versions joined).
	Engines []EngineFinding `json:"engines,omitempty"`
}

// EngineFinding is one engine's part in a verdict of several engines.
type EngineFinding struct {
	// Name is the engine's configured name.
	Name string `json:"name"`
	// Result is clean, infected or unscannable; empty when the engine gave
	// no verdict (Error).
	Result           Result    `json:"result,omitempty"`
	Signature        string    `json:"signature,omitempty"`
	Reason           string    `json:"reason,omitempty"`
	Engine           string    `json:"engine,omitempty"`
	EngineVersion    string    `json:"engine_version,omitempty"`
	SignatureVersion string    `json:"signature_version,omitempty"`
	SignatureDate    time.Time `json:"signature_date,omitzero"`
	Error            string    `json:"error,omitempty"`
}

// Content describes the stored bytes; it is set once, by the upload.
type Content struct {
	// DeclaredType is the Content-Type the uploader sent; downloads use it.
	DeclaredType string `json:"declared_type,omitempty"`
	// SniffedType is what the first bytes say; it drives the type policy.
	SniffedType string `json:"sniffed_type,omitempty"`
	Filename    string `json:"filename,omitempty"`
	Size        int64  `json:"size"`
	// SHA256 is the lowercase hex SHA-256 of the stored (plaintext) bytes.
	SHA256 string `json:"sha256"`
	// BlobKey is the storage key of the sealed blob.
	BlobKey string `json:"blob_key"`
	// Entropy is an optional estimate in bits per byte (0..8) of the first
	// bytes; 0 means not measured.
	Entropy float64 `json:"entropy,omitempty"`
	// TypeCheck says how far SniffedType was checked: TypeCheckStructure
	// (the first bytes parse as that type), TypeCheckMagic (only its magic
	// bytes matched), or "" (unknown type, or uploaded before the check).
	TypeCheck string `json:"type_check,omitempty"`
}

// Content.TypeCheck values.
const (
	TypeCheckStructure = "structure"
	TypeCheckMagic     = "magic"
)

// Event is one entry of a record's history: who changed what, when, why.
type Event struct {
	At     time.Time  `json:"at"`
	Actor  string     `json:"actor"`
	Action Transition `json:"action"`
	From   State      `json:"from,omitempty"`
	To     State      `json:"to"`
	Reason string     `json:"reason,omitempty"`
	// Signature is the verdict's signature for scan transitions.
	Signature string `json:"signature,omitempty"`
}

// Record is the catalog entry of one media item, keyed by (Origin, ID). It
// is JSON-serialisable; the catalog stores it as is.
type Record struct {
	// Origin is the server name in the mxc:// URI.
	Origin string `json:"origin"`
	ID     string `json:"id"`
	State  State  `json:"state"`
	// Uploader is the Matrix user ID of the creator ("" for remote media).
	Uploader   string    `json:"uploader,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UploadedAt time.Time `json:"uploaded_at,omitzero"`
	// ExpiresAt is when a reservation expires; zero in other states.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Content
	// Verdict is the current verdict; nil while none applies (reserved,
	// pending, after a rescan).
	Verdict *Verdict `json:"verdict,omitempty"`
	History []Event  `json:"history,omitempty"`
	// Remote marks media cached from another server (federation).
	Remote bool `json:"remote,omitempty"`
	// SafeFromQuarantine marks media the homeserver it was imported from
	// had protected from bulk quarantine (Synapse's safe_from_quarantine):
	// quarantining its uploader's media leaves it alone; quarantining it by
	// media ID or hash still applies.
	SafeFromQuarantine bool `json:"safe_from_quarantine,omitempty"`
}

// NewReserved returns the record of an async upload's reservation
// (POST /_matrix/media/v1/create), with its creation event.
func NewReserved(origin, id, uploader string, at, expiresAt time.Time) Record {
	return Record{
		Origin: origin, ID: id, State: StateReserved, Uploader: uploader,
		CreatedAt: at, ExpiresAt: expiresAt,
		History: []Event{{At: at, Actor: uploader, Action: Create, To: StateReserved}},
	}
}

// NewPending returns the record of a completed one-shot upload: content
// stored and awaiting its scan. It does not validate c; see Content rules on
// the Upload transition.
func NewPending(origin, id, uploader string, at time.Time, c Content) Record {
	return Record{
		Origin: origin, ID: id, State: StatePending, Uploader: uploader,
		CreatedAt: at, UploadedAt: at, Content: c,
		History: []Event{{At: at, Actor: uploader, Action: Upload, To: StatePending}},
	}
}

// Servable reports whether the content may be served: only when clean.
func (r Record) Servable() bool { return r.State == StateClean }

// MXC returns the record's content URI.
func (r Record) MXC() string { return MXC(r.Origin, r.ID) }

// ServeError returns nil for clean media and otherwise the domain error a
// download of this record answers with: ErrNotYetUploaded while reserved
// or pending, ErrTypeForbidden for a type-policy block, ErrNotClean when
// quarantined or blocked, ErrNotFound when deleted, ErrExpired (which
// callers answer like ErrNotFound) when the reservation expired.
func (r Record) ServeError() error {
	switch r.State {
	case StateClean:
		return nil
	case StateReserved, StatePending:
		return ErrNotYetUploaded
	case StateBlocked:
		if r.Verdict != nil && r.Verdict.Result == ResultTypeForbidden {
			return ErrTypeForbidden
		}
		return ErrNotClean
	case StateQuarantined:
		return ErrNotClean
	case StateDeleted:
		return ErrNotFound
	case StateExpired:
		return ErrExpired
	}
	return fmt.Errorf("%w: unknown state %q", ErrNotFound, r.State)
}

// Final reports whether no transition leaves the state (deleted, expired).
func (s State) Final() bool { return s == StateDeleted || s == StateExpired }
