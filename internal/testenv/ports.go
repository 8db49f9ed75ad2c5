package testenv

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
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

// StableAddr returns a loopback address whose port is free and lies below
// the kernel's ephemeral range (and above the fixed ports of
// scripts/testenv and scripts/cluster). A test that lets a receiver be
// down for a while needs one: a port from FreeAddrs is an ephemeral one,
// which any other process of the test run may bind (port 0) in between,
// and a sender would then deliver to that stranger.
func StableAddr(t testing.TB) string {
	t.Helper()
	lo, hi := 25000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lo+1000 {
				hi = n
			}
		}
	}
	for range 100 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lo+rand.IntN(hi-lo)))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		return addr
	}
	t.Fatalf("no free loopback port in [%d, %d)", lo, hi)
	return ""
}
