package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// message is one object of govulncheck's JSON stream (golang.org/x/vuln
// protocol: config, progress, osv, finding).
type message struct {
	Config *struct {
		DB string `json:"db"`
	} `json:"config"`
	OSV *struct {
		ID       string `json:"id"`
		Summary  string `json:"summary"`
		Affected []struct {
			Package struct {
				Name string `json:"name"`
			} `json:"package"`
		} `json:"affected"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
		} `json:"trace"`
	} `json:"finding"`
}

// finding is what the report knows of one vulnerability.
type finding struct {
	called bool   // a vulnerable function is reachable
	via    string // the module (and function) it is reached in
	fixed  string
}

type report struct {
	db        string
	osvCount  int
	summaries map[string]string
	findings  map[string]finding
}

func readReport(r io.Reader) (report, error) {
	rep := report{summaries: map[string]string{}, findings: map[string]finding{}}
	dec := json.NewDecoder(r)
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rep, err
		}
		switch {
		case m.Config != nil:
			rep.db = m.Config.DB
		case m.OSV != nil:
			rep.osvCount++
			rep.summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			f := rep.findings[m.Finding.OSV]
			top := m.Finding.Trace[0]
			if top.Function != "" && !f.called {
				f.called = true
				fn := top.Function
				if top.Receiver != "" {
					fn = top.Receiver + "." + fn
				}
				f.via = fmt.Sprintf("%s@%s %s.%s", top.Module, top.Version, top.Package, fn)
			} else if f.via == "" {
				f.via = top.Module + "@" + top.Version
			}
			f.fixed = m.Finding.FixedVersion
			rep.findings[m.Finding.OSV] = f
		}
	}
	if rep.db == "" {
		return rep, errors.New("no config message: is this govulncheck -format json output?")
	}
	return rep, nil
}

func (r report) ids() []string {
	ids := make([]string, 0, len(r.findings))
	for id := range r.findings {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (r report) summary(id string) string {
	if s := r.summaries[id]; s != "" {
		return s
	}
	return "no summary"
}

func (r report) fixedIn(id string) string {
	if v := r.findings[id].fixed; v != "" {
		return "fixed in " + v
	}
	return "no fixed version yet"
}

// accepted is one entry of the acceptance file.
type accepted struct {
	ID     string `yaml:"id"`
	Reason string `yaml:"reason"`
	Until  date   `yaml:"until"`
}

// date is a YYYY-MM-DD day; an acceptance ends at its start (UTC).
type date struct{ time.Time }

func (d *date) UnmarshalYAML(n *yaml.Node) error {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(n.Value))
	if err != nil {
		return fmt.Errorf("until %q: want YYYY-MM-DD", n.Value)
	}
	d.Time = t
	return nil
}

func loadAccepted(path string) ([]accepted, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Accepted []accepted `yaml:"accepted"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f.Accepted, nil
}

func find(acc []accepted, id string) (accepted, bool) {
	for _, a := range acc {
		if a.ID == id {
			return a, true
		}
	}
	return accepted{}, false
}
