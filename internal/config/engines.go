package config

import (
	"fmt"
	"regexp"
	"strings"
)

// Engine is one scan engine of scan.engines.
type Engine struct {
	// Name names the engine in verdicts, metrics, /readyz and reports
	// ([a-z0-9_-], unique).
	Name string `yaml:"name"`
	// Kind is clamd or icap.
	Kind string `yaml:"kind"`
	// Address: clamd tcp://host:port or unix:///path; icap
	// icap://host[:port]/service or icaps://host[:port]/service.
	Address string `yaml:"address"`
	// Method (icap): RESPMOD (default) or REQMOD.
	Method string `yaml:"method"`
	// Preview (icap): preview size in bytes; 0 takes the service's, -1
	// sends none.
	Preview int `yaml:"preview"`
	// InfectionHeaders (icap): answer headers that report a finding
	// (default X-Infection-Found, X-Violations-Found, X-Virus-ID,
	// X-Virus-Name, X-Blocked-Reason).
	InfectionHeaders []string `yaml:"infection_headers"`
	// MaxSize (icap): content above it is unscannable without asking the
	// service; set it to the service's own limit (0: none).
	MaxSize ByteSize `yaml:"max_size"`
	// MaxConnections (icap): concurrent connections (default 16, lowered
	// to the service's Max-Connections).
	MaxConnections int `yaml:"max_connections"`
}

var engineName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// EngineList returns the configured engines: scan.engines, or scan.clamd
// as a one-engine list named "clamd".
func (s Scan) EngineList() []Engine {
	if len(s.Engines) > 0 {
		return s.Engines
	}
	if s.Clamd != "" {
		return []Engine{{Name: "clamd", Kind: "clamd", Address: s.Clamd}}
	}
	return nil
}

// validateEngines reports the problems of scan.clamd, scan.engines and
// scan.policy.
func (s Scan) validateEngines(bad func(string, ...any)) {
	if s.Clamd != "" && len(s.Engines) > 0 {
		bad("scan.clamd and scan.engines: set one of them (scan.clamd is a one-engine list)")
	}
	if s.Clamd != "" && !strings.HasPrefix(s.Clamd, "tcp://") && !strings.HasPrefix(s.Clamd, "unix://") {
		bad("scan.clamd: %q must start with tcp:// or unix://", s.Clamd)
	}
	switch s.Policy {
	case "", "all", "any-infected-quarantines":
	default:
		bad("scan.policy: %q is neither all nor any-infected-quarantines", s.Policy)
	}
	seen := map[string]bool{}
	for i, e := range s.Engines {
		at := fmt.Sprintf("scan.engines[%d]", i)
		if !engineName.MatchString(e.Name) {
			bad("%s.name: %q must match [a-z0-9_-]{1,32}", at, e.Name)
		}
		if seen[e.Name] {
			bad("%s.name: %q is used twice", at, e.Name)
		}
		seen[e.Name] = true
		switch e.Kind {
		case "clamd":
			if !strings.HasPrefix(e.Address, "tcp://") && !strings.HasPrefix(e.Address, "unix://") {
				bad("%s.address: %q must start with tcp:// or unix:// for clamd", at, e.Address)
			}
			if e.Method != "" || e.Preview != 0 || len(e.InfectionHeaders) > 0 || e.MaxSize != 0 || e.MaxConnections != 0 {
				bad("%s: method, preview, infection_headers, max_size and max_connections are for icap engines", at)
			}
		case "icap":
			if !strings.HasPrefix(e.Address, "icap://") && !strings.HasPrefix(e.Address, "icaps://") {
				bad("%s.address: %q must start with icap:// or icaps://", at, e.Address)
			}
			if e.Method != "" && e.Method != "RESPMOD" && e.Method != "REQMOD" {
				bad("%s.method: %q is neither RESPMOD nor REQMOD", at, e.Method)
			}
			if e.Preview < -1 || e.MaxSize < 0 || e.MaxConnections < 0 {
				bad("%s: preview ≥ -1, max_size ≥ 0, max_connections ≥ 0 are required", at)
			}
		default:
			bad("%s.kind: %q is neither clamd nor icap", at, e.Kind)
		}
	}
}
