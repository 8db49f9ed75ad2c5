package media

import (
	"errors"
	"reflect"
	"testing"
)

func TestBlobRefCounts(t *testing.T) {
	b := NewBlob(testSHA, "blobs/x", 10, t0)
	if b.RefCount != 1 {
		t.Fatalf("new blob refcount %d", b.RefCount)
	}
	b, err := b.AddRef(t0)
	if err != nil || b.RefCount != 2 {
		t.Fatalf("AddRef: %d %v", b.RefCount, err)
	}
	b, last, err := b.DropRef(t0)
	if err != nil || last || b.RefCount != 1 {
		t.Fatalf("DropRef: %d %v %v", b.RefCount, last, err)
	}
	b, last, err = b.DropRef(t0)
	if err != nil || !last || b.RefCount != 0 {
		t.Fatalf("last DropRef: %d %v %v", b.RefCount, last, err)
	}
	if _, _, err := b.DropRef(t0); !errors.Is(err, ErrRefCount) {
		t.Fatalf("DropRef from zero: %v", err)
	}
}

func TestBlobInfectedBlocksHash(t *testing.T) {
	b := NewBlob(testSHA, "blobs/x", 10, t0)
	b = b.WithVerdict(Verdict{Result: ResultInfected, Signature: "Eicar", SignatureVersion: "27001"}, t0)
	if !b.Blocked {
		t.Fatal("infected verdict did not block the hash")
	}
	if _, err := b.AddRef(t0); !errors.Is(err, ErrHashBlocked) {
		t.Fatalf("AddRef on blocked hash: %v", err)
	}
	b = b.Unblock(t0)
	if _, err := b.AddRef(t0); err != nil {
		t.Fatalf("AddRef after unblock: %v", err)
	}
	if !b.Block("deleted by officer", t0).Blocked {
		t.Fatal("Block")
	}
	m := b.MoveTo("quarantine/x", true, t0)
	if !m.Quarantined || m.BlobKey != "quarantine/x" || b.Quarantined {
		t.Fatalf("MoveTo: %+v", m)
	}
}

func TestBlobReusableVerdict(t *testing.T) {
	b := NewBlob(testSHA, "k", 1, t0)
	if _, ok := b.ReusableVerdict("27001"); ok {
		t.Fatal("reused a missing verdict")
	}
	tests := []struct {
		result  Result
		version string
		ask     string
		ok      bool
	}{
		{ResultClean, "27001", "27001", true},
		{ResultInfected, "27001", "27001", true},
		{ResultUnscannable, "27001", "27001", true},
		{ResultClean, "27001", "27002", false},
		{ResultClean, "", "", false},
		{ResultFailed, "27001", "27001", false},
		{ResultTypeForbidden, "27001", "27001", false},
	}
	for _, tt := range tests {
		v := Verdict{Result: tt.result, Signature: "s", Basis: tt.version}
		got, ok := b.WithVerdict(v, t0).ReusableVerdict(tt.ask)
		if ok != tt.ok || ok && !reflect.DeepEqual(got, v) {
			t.Errorf("%s@%q asked %q: %v %v", tt.result, tt.version, tt.ask, got, ok)
		}
	}
	// A blocked hash never reuses a clean verdict (an officer deleted a
	// record of it); its infected verdict still is.
	blocked := b.Block("deleted", t0)
	if _, ok := blocked.WithVerdict(Verdict{Result: ResultClean, Basis: "x"}, t0).ReusableVerdict("x"); ok {
		t.Error("a clean verdict of a blocked hash was reusable")
	}
	if _, ok := blocked.WithVerdict(Verdict{Result: ResultInfected, Signature: "s", Basis: "x"}, t0).ReusableVerdict("x"); !ok {
		t.Error("an infected verdict of a blocked hash was not reusable")
	}
}
