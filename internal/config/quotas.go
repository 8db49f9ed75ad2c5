package config

import (
	"fmt"
	"net/url"
	"path"
)

// Quotas configure per-user storage quotas (MSC4335): an upload that would
// take its uploader over a limit is refused with 403 M_USER_LIMIT_EXCEEDED
// before anything is stored. Usage is counted for every local upload and
// import whether or not a limit is set (MSC4034 usage, officers' view).
type Quotas struct {
	// MaxBytes and MaxFiles are every user's default limits (0: unlimited).
	MaxBytes ByteSize `yaml:"max_bytes"`
	MaxFiles int64    `yaml:"max_files"`
	// Overrides set other limits for matching users; the first match wins.
	Overrides []QuotaOverride `yaml:"overrides"`
	// InfoURI is MSC4335's info_uri: a page explaining the limits to
	// users. Required when any limit is set.
	InfoURI string `yaml:"info_uri"`
	// IncreaseURI, when set, makes the limits soft (MSC4335 soft_limit):
	// where a user can have them raised.
	IncreaseURI string `yaml:"increase_uri"`
}

// QuotaOverride gives matching users other limits.
type QuotaOverride struct {
	// Users are user IDs or globs ("@*:bridge.example.org").
	Users    []string `yaml:"users"`
	MaxBytes ByteSize `yaml:"max_bytes"`
	MaxFiles int64    `yaml:"max_files"`
}

// Limit returns userID's limits (bytes, files; 0 is unlimited).
func (q Quotas) Limit(userID string) (int64, int64) {
	for _, o := range q.Overrides {
		for _, u := range o.Users {
			if ok, err := path.Match(u, userID); err == nil && ok {
				return int64(o.MaxBytes), o.MaxFiles
			}
		}
	}
	return int64(q.MaxBytes), q.MaxFiles
}

func (q Quotas) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	limited := q.MaxBytes > 0 || q.MaxFiles > 0
	if q.MaxBytes < 0 || q.MaxFiles < 0 {
		bad("quotas: max_bytes and max_files must be ≥ 0")
	}
	for i, o := range q.Overrides {
		if len(o.Users) == 0 {
			bad("quotas.overrides[%d].users: at least one user ID or glob", i)
		}
		for _, u := range o.Users {
			if _, err := path.Match(u, ""); err != nil || len(u) < 2 || u[0] != '@' {
				bad("quotas.overrides[%d].users: %q is not a user ID or glob", i, u)
			}
		}
		if o.MaxBytes < 0 || o.MaxFiles < 0 {
			bad("quotas.overrides[%d]: max_bytes and max_files must be ≥ 0", i)
		}
		limited = limited || o.MaxBytes > 0 || o.MaxFiles > 0
	}
	for _, f := range []struct{ name, v string }{{"info_uri", q.InfoURI}, {"increase_uri", q.IncreaseURI}} {
		if f.v == "" {
			continue
		}
		if u, err := url.Parse(f.v); err != nil || !u.IsAbs() {
			bad("quotas.%s: %q is not an absolute URI", f.name, f.v)
		}
	}
	if limited && q.InfoURI == "" {
		bad("quotas.info_uri: required when a limit is set (MSC4335: clients link users to it)")
	}
	return errs
}
