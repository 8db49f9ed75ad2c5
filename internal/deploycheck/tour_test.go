package deploycheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadmeTourIsTheScriptedTour(t *testing.T) {
	out, err := exec.Command("bash", filepath.Join(repoRoot, "scripts", "tour"), "--print").Output()
	if err != nil {
		t.Fatalf("scripts/tour --print: %v", err)
	}
	script := strings.TrimSpace(string(out))
	if !strings.Contains(script, "/_matrix/media/v3/upload") || !strings.Contains(script, "scan_encrypted") {
		t.Fatalf("scripts/tour --print printed no tour:\n%s", script)
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := readmeTour(string(b))
	if err != nil {
		t.Fatalf("%v\nput this between the markers in README.md:\n%s\n```sh\n%s\n```\n%s", err, tourBegin, script, tourEnd)
	}
	if readme != script {
		t.Errorf("README.md's tour differs from scripts/tour; replace the block with:\n```sh\n%s\n```", script)
	}
}

func TestReadmeTourFindsTheBlock(t *testing.T) {
	doc := "intro\n" + tourBegin + "\n```sh\necho hi\n```\n" + tourEnd + "\nmore"
	got, err := readmeTour(doc)
	if err != nil || got != "echo hi" {
		t.Errorf("readmeTour = %q, %v", got, err)
	}
	if _, err := readmeTour("no markers"); err == nil {
		t.Error("a README without markers was accepted")
	}
}
