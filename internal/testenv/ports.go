package testenv

import (
	"net"
	"testing"
)

// FreeAddrs returns n distinct loopback addresses ("127.0.0.1:port") whose
// ports were free a moment ago. All n listeners are held open until every
// port is chosen: closing each before asking for the next lets the kernel
// hand out the same port twice, and a process given one port for two
// listeners will not start.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	addr, err := net.ResolveTCPAddr("tcp", FreeAddrs(t, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	return addr.Port
}
