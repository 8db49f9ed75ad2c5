package federation

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mfed "maunium.net/go/mautrix/federation"
)

func TestLoadSigningKey(t *testing.T) {
	dir := t.TempDir()
	k := mfed.GenerateSigningKey()
	good := filepath.Join(dir, "signing.key")
	if err := os.WriteFile(good, []byte("# homeserver key\n\n"+k.SynapseString()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSigningKey(good)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || got.Pub != k.Pub || !got.Priv.Equal(k.Priv) {
		t.Fatalf("loaded %s/%s, want %s/%s", got.ID, got.Pub, k.ID, k.Pub)
	}
	seed := strings.Fields(k.SynapseString())[2]
	for name, content := range map[string]string{
		"empty":       "",
		"short seed":  "ed25519 a_bcd AAAA",
		"not base64":  "ed25519 a_bcd !!!!",
		"other alg":   "curve25519 a_bcd " + seed,
		"two fields":  "ed25519 " + seed,
		"only header": "# nothing\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadSigningKey(p)
		if !errors.Is(err, ErrBadKeyFile) {
			t.Errorf("%s: %v, want ErrBadKeyFile", name, err)
		} else if strings.Contains(err.Error(), seed) {
			t.Errorf("%s: the error shows key material", name)
		}
	}
	if _, err := LoadSigningKey(filepath.Join(dir, "missing")); !errors.Is(err, ErrBadKeyFile) {
		t.Errorf("missing file: %v", err)
	}
}

func TestAddrPolicy(t *testing.T) {
	for addr, want := range map[string][2]bool{ // {allowed strict, allowed with AllowPrivate}
		"93.184.216.34:443":         {true, true},
		"[2606:4700::1111]:8448":    {true, true},
		"127.0.0.1:8448":            {false, true},
		"[::1]:8448":                {false, true},
		"10.1.2.3:8448":             {false, true},
		"172.16.0.1:8448":           {false, true},
		"192.168.1.1:8448":          {false, true},
		"100.64.0.1:8448":           {false, true},
		"[fd00::1]:8448":            {false, true},
		"[::ffff:127.0.0.1]:8448":   {false, true},
		"[64:ff9b::a9fe:a9fe]:80":   {false, false}, // NAT64 of 169.254.169.254
		"169.254.169.254:80":        {false, false},
		"[fe80::1]:8448":            {false, false},
		"0.0.0.0:8448":              {false, false},
		"[::]:8448":                 {false, false},
		"224.0.0.1:8448":            {false, false},
		"255.255.255.255:8448":      {false, false},
		"[ff02::1]:8448":            {false, false},
		"[::ffff:169.254.1.1]:443":  {false, false},
		"[64:ff9b:1::a9fe:a9fe]:80": {false, false}, // local-use NAT64 (RFC 8215): translated into the local network
		"[64:ff9b:1:2::5]:443":      {false, false},
		"[fec0::1]:8448":            {false, false}, // deprecated site-local
		"[fed0:1::2]:8448":          {false, false},
		"[fd00:ec2::254]:80":        {false, false}, // the AWS IPv6 metadata address
	} {
		ap := netip.MustParseAddrPort(addr)
		for i, p := range []AddrPolicy{{}, {AllowPrivate: true}} {
			err := p.Check(ap)
			if (err == nil) != want[i] {
				t.Errorf("%s (private allowed: %v): %v, want allowed=%v", addr, p.AllowPrivate, err, want[i])
			}
			if err != nil && !errors.Is(err, ErrAddressForbidden) {
				t.Errorf("%s: %v does not wrap ErrAddressForbidden", addr, err)
			}
		}
	}
}
