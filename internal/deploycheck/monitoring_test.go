package deploycheck

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var monitoringDir = filepath.Join(repoRoot, "deploy", "monitoring")

// promtoolBin finds promtool (Debian's prometheus package, which
// scripts/testenv installs); missing, the test fails.
func promtoolBin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not installed: run `make test` (scripts/testenv installs Debian's prometheus): %v", err)
	}
	return bin
}

func promtool(t *testing.T, args ...string) string {
	t.Helper()
	bin := promtoolBin(t)
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Dir = monitoringDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The rules are valid and their unit tests pass.
func TestAlertRulesPassPromtool(t *testing.T) {
	promtool(t, "check", "rules", AlertRulesFile)
	promtool(t, "test", "rules", AlertTestsFile)
}

// A broken rule fails promtool's tests: the test harness can fail.
func TestAlertRuleTestsCatchABrokenRule(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(monitoringDir, AlertRulesFile))
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(b), "mediarepo_engine_up == 0", "mediarepo_engine_up == 2", 1)
	if broken == string(b) {
		t.Fatal("the engine-down rule changed; update this test")
	}
	dir := t.TempDir()
	tests, err := os.ReadFile(filepath.Join(monitoringDir, AlertTestsFile))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, AlertRulesFile), broken)
	writeFile(t, filepath.Join(dir, AlertTestsFile), string(tests))
	cmd := exec.Command(promtoolBin(t), "test", "rules", AlertTestsFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("promtool passed a broken engine-down rule:\n%s", out)
	}
}

// alertTests is the part of a promtool test file the checks read.
type alertTests struct {
	Tests []struct {
		Name      string `yaml:"name"`
		AlertTest []struct {
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// Every alert has a test where it fires and is checked silent in the
// healthy fleet; the alerts are all there.
func TestEveryAlertFiresAndStaysSilent(t *testing.T) {
	rules, err := readAlertRules(monitoringDir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(monitoringDir, AlertTestsFile))
	if err != nil {
		t.Fatal(err)
	}
	var tests alertTests
	if err := yaml.Unmarshal(b, &tests); err != nil {
		t.Fatal(err)
	}
	fires, silentWhenHealthy := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, at := range tc.AlertTest {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else if tc.Name == "healthy" {
				silentWhenHealthy[at.Alertname] = true
			}
		}
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if !fires[r.Alert] {
				t.Errorf("alert %s: no test where it fires", r.Alert)
			}
			if !silentWhenHealthy[r.Alert] {
				t.Errorf("alert %s: not checked silent in the healthy test", r.Alert)
			}
		}
	}
	for _, want := range []string{
		"MediarepoSignaturesTooOld", "MediarepoEngineDown", "MediarepoScanQueueGrowing", "MediarepoScansFailing",
		"MediarepoStoreErrors", "MediarepoCatalogErrors", "MediarepoReconcilerWithoutLeader", "MediarepoReportOutboxFailing",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s is missing", want)
		}
	}
}

func TestDashboardHasThePanels(t *testing.T) {
	d, err := readDashboard(monitoringDir)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, p := range d.Panels {
		titles = append(titles, p.Title)
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
	}
	for _, want := range []string{"Uploads", "Verdicts by result", "Infections per day", "Scan queue depth",
		"Time to verdict", "Engine health", "Signature age"} {
		if !slices.Contains(titles, want) {
			t.Errorf("dashboard: panel %q missing (have %v)", want, titles)
		}
	}
	names, err := MonitoringMetrics(monitoringDir)
	if err != nil || len(names) < 7 {
		t.Fatalf("metrics named by rules and dashboard: %v, %v", names, err)
	}
}
