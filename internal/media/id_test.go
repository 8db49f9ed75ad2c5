package media

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateMediaID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"abcDEF123_-", true},
		{"a", true},
		{strings.Repeat("x", MaxIDLength), true},
		{strings.Repeat("x", MaxIDLength+1), false},
		{"", false},
		{"../etc", false},
		{"a/b", false},
		{"a.b", false},
		{"a b", false},
		{"a%2F", false},
		{"ä", false},
		{"a\x00", false},
		{"a\n", false},
	}
	for _, tt := range tests {
		err := ValidateMediaID(tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateMediaID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidID) {
			t.Errorf("ValidateMediaID(%q) error %v does not wrap ErrInvalidID", tt.id, err)
		}
	}
}

func TestNewMediaID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewMediaID()
		if len(id) != 24 {
			t.Fatalf("len(%q) = %d", id, len(id))
		}
		if err := ValidateMediaID(id); err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("duplicate ID %q", id)
		}
		seen[id] = true
	}
}

func TestValidateServerName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"example.org", true},
		{"matrix.example.org:8448", true},
		{"localhost", true},
		{"localhost:1", true},
		{"my-server", true},
		{"1.2.3.4", true},
		{"1.2.3.4:65535", true},
		{"[::1]", true},
		{"[::1]:8448", true},
		{"[2001:db8::ff00:42:8329]:443", true},
		{"EXAMPLE.org", true},
		{strings.Repeat("a", 63) + "." + strings.Repeat("b", 191), true},
		{strings.Repeat("a", 256), false},
		{"", false},
		{":8448", false},
		{"example.org:", false},
		{"example.org:0", false},
		{"example.org:65536", false},
		{"example.org:123456", false},
		{"example.org:84a8", false},
		{"example.org:+1", false},
		{"exa mple.org", false},
		{"example..org", false},
		{".example.org", false},
		{"example.org.", false},
		{"exam_ple.org", false},
		{"example.org/path", false},
		{"user@example.org", false},
		{"1.2.3.256", false},
		{"1.2.3", false},
		{"::1", false},
		{"[::1", false},
		{"[1.2.3.4]", false},
		{"[fe80::1%eth0]", false},
		{"[::1]x", false},
		{"[::1]:", false},
		{"example.org:80:80", false},
		{"ex\x00ample.org", false},
	}
	for _, tt := range tests {
		err := ValidateServerName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateServerName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidServerName) {
			t.Errorf("ValidateServerName(%q) error %v does not wrap ErrInvalidServerName", tt.name, err)
		}
	}
}

func TestValidateUserID(t *testing.T) {
	tests := []struct {
		id, server string
	}{
		{"@alice:example.org", "example.org"},
		{"@a.b_c=d-e/f+g:matrix.example.org:8448", "matrix.example.org:8448"},
		{"@Historical!User~:example.org", "example.org"},
		{"@bob:[::1]:8448", "[::1]:8448"},
		{"@x:1.2.3.4", "1.2.3.4"},
		{"alice:example.org", ""},
		{"@:example.org", ""},
		{"@alice", ""},
		{"@alice:", ""},
		{"@ali ce:example.org", ""},
		{"@alicé:example.org", ""},
		{"@alice:exa mple.org", ""},
		{"@" + strings.Repeat("a", 243) + ":example.org", ""}, // 256 characters
	}
	for _, tt := range tests {
		server, err := UserServerName(tt.id)
		if tt.server == "" {
			if !errors.Is(err, ErrInvalidUserID) {
				t.Errorf("UserServerName(%q) = %q, %v; want ErrInvalidUserID", tt.id, server, err)
			}
			continue
		}
		if err != nil || server != tt.server {
			t.Errorf("UserServerName(%q) = %q, %v; want %q", tt.id, server, err, tt.server)
		}
		if err := ValidateUserID(tt.id); err != nil {
			t.Errorf("ValidateUserID(%q) = %v", tt.id, err)
		}
	}
}

func TestMXC(t *testing.T) {
	uri := MXC("matrix.example.org:8448", "abc_DEF-1")
	server, id, err := ParseMXC(uri)
	if err != nil || server != "matrix.example.org:8448" || id != "abc_DEF-1" {
		t.Fatalf("ParseMXC(%q) = %q, %q, %v", uri, server, id, err)
	}
	bad := []struct {
		uri  string
		want error
	}{
		{"https://example.org/abc", ErrInvalidID},
		{"mxc://example.org", ErrInvalidID},
		{"mxc://example.org/", ErrInvalidID},
		{"mxc://example.org/a/b", ErrInvalidID},
		{"mxc://exa mple.org/abc", ErrInvalidServerName},
		{"mxc:///abc", ErrInvalidServerName},
	}
	for _, tt := range bad {
		if _, _, err := ParseMXC(tt.uri); !errors.Is(err, tt.want) {
			t.Errorf("ParseMXC(%q) = %v, want %v", tt.uri, err, tt.want)
		}
	}
}
