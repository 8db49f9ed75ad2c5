package config

import (
	"strings"
	"testing"
)

func TestEngines(t *testing.T) {
	c := Default()
	c.Scan.Clamd = "tcp://127.0.0.1:3310"
	if got := c.Scan.EngineList(); len(got) != 1 || got[0].Name != "clamd" || got[0].Kind != "clamd" || got[0].Address != c.Scan.Clamd {
		t.Errorf("scan.clamd as a list: %+v", got)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("scan.clamd alone: %v", err)
	}

	c = Default()
	c.Scan.Engines = []Engine{
		{Name: "clamd", Kind: "clamd", Address: "unix:///run/clamd.sock"},
		{Name: "kav", Kind: "icap", Address: "icap://kav:1344/av/respmod", Method: "REQMOD", MaxSize: 100 << 20},
	}
	c.Scan.Policy = "any-infected-quarantines"
	if err := c.Validate(); err != nil {
		t.Errorf("two engines: %v", err)
	}

	c.Scan.Clamd = "tcp://x:1"
	c.Scan.Policy = "majority"
	c.Scan.Engines = append(c.Scan.Engines,
		Engine{Name: "kav", Kind: "icap", Address: "http://kav/x"},
		Engine{Name: "Bad Name", Kind: "sophos", Address: "tcp://x:1"},
		Engine{Name: "c2", Kind: "clamd", Address: "tcp://x:1", Method: "RESPMOD"},
		Engine{Name: "i2", Kind: "icap", Address: "icap://x/y", Method: "GET", Preview: -2})
	err := c.Validate()
	if err == nil {
		t.Fatal("bad engines validated")
	}
	for _, want := range []string{"set one of them", "scan.policy", "used twice", "icap:// or icaps://", "[a-z0-9_-]", "neither clamd nor icap",
		"are for icap engines", "neither RESPMOD nor REQMOD", "preview ≥ -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestReports(t *testing.T) {
	c := Default()
	c.Scan.Clamd = "tcp://127.0.0.1:3310"
	c.Reports = Reports{Webhook: ReportWebhook{URL: "http://siem/x"}, Syslog: ReportSyslog{Address: "siem"},
		Matrix: ReportMatrix{Homeserver: "ftp://x", RoomID: "#officers:x"}}
	err := c.Validate()
	if err == nil {
		t.Fatal("bad reports validated")
	}
	for _, want := range []string{"https:// URL", "secret_file", "host:port", "not an http(s) URL", "not a room ID", "token_file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	c.Reports = Reports{Webhook: ReportWebhook{URL: "https://siem/x", SecretFile: "/run/secrets/hook"}, Syslog: ReportSyslog{Address: "siem:6514", TLS: true},
		Matrix: ReportMatrix{Homeserver: "https://matrix.example.org", RoomID: "!officers:example.org", TokenFile: "/run/secrets/bot"}}
	if err := c.Validate(); err != nil || !c.Reports.Enabled() {
		t.Errorf("good reports: %v", err)
	}
}
