package deploycheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Files of deploy/monitoring.
const (
	AlertRulesFile = "alerts.yaml"
	AlertTestsFile = "alerts.test.yaml"
	DashboardFile  = "grafana-dashboard.json"
)

// alertRules is the part of a Prometheus rule file the checks read.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readAlertRules(dir string) (alertRules, error) {
	var r alertRules
	b, err := os.ReadFile(filepath.Join(dir, AlertRulesFile))
	if err != nil {
		return r, err
	}
	return r, yaml.Unmarshal(b, &r)
}

func readDashboard(dir string) (dashboard, error) {
	var d dashboard
	b, err := os.ReadFile(filepath.Join(dir, DashboardFile))
	if err != nil {
		return d, err
	}
	return d, json.Unmarshal(b, &d)
}

var metricName = regexp.MustCompile(`\bmediarepo_[a-z0-9_]+`)

// MonitoringMetrics returns the mediarepo metric families that the alert
// rules and the dashboard in dir query (a histogram's _bucket, _sum and
// _count series named by their family), sorted and without repeats.
func MonitoringMetrics(dir string) ([]string, error) {
	rules, err := readAlertRules(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", AlertRulesFile, err)
	}
	dash, err := readDashboard(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DashboardFile, err)
	}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	for _, p := range dash.Panels {
		for _, t := range p.Targets {
			exprs = append(exprs, t.Expr)
		}
	}
	var names []string
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				n = strings.TrimSuffix(n, suffix)
			}
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
