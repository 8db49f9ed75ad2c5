package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// Linux architecture Go supports (sysconf(_SC_CLK_TCK) without cgo).
const clockTicks = 100

// cpuGroups are the processes whose CPU time the accounting separates, by
// their command name (/proc/PID/comm): the load generator is this process.
var cpuGroups = []string{"mrbench", "minio", "mediarepo", "postgres", "clamd"}

// cpuSample is the CPU time used so far by each group, and the machine's
// busy and total time (/proc/stat), at one moment.
type cpuSample struct {
	at          time.Time
	groups      map[string]time.Duration
	busy, total time.Duration
}

// sampleCPU reads /proc. Processes that start and end between two samples
// are not seen (the benchmark's own are long-lived).
func sampleCPU() (cpuSample, error) {
	s := cpuSample{at: time.Now(), groups: map[string]time.Duration{}}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return s, err
	}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		name, ticks, ok := procCPU(b)
		if !ok {
			continue
		}
		for _, g := range cpuGroups {
			if name == g {
				s.groups[g] += ticksDuration(ticks)
			}
		}
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line)) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return s, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	for i, v := range f[1:9] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/stat: %w", err)
		}
		s.total += ticksDuration(n)
		if i != 3 && i != 4 { // idle, iowait
			s.busy += ticksDuration(n)
		}
	}
	return s, nil
}

// procCPU parses /proc/PID/stat: the command name and utime+stime.
func procCPU(b []byte) (string, uint64, bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	rest := strings.Fields(string(b[end+1:])) // state ppid ... utime(12th) stime(13th)
	if len(rest) < 13 {
		return "", 0, false
	}
	u, err1 := strconv.ParseUint(rest[11], 10, 64)
	st, err2 := strconv.ParseUint(rest[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	return string(b[open+1 : end]), u + st, true
}

func ticksDuration(n uint64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

// cpuPerRequest is the CPU each group used per request between two
// samples, and how busy the machine was.
type cpuPerRequest struct {
	ms    map[string]float64 // group -> CPU milliseconds per request
	other float64            // CPU ms per request of everything else
	busy  float64            // share of the machine's CPU time that was busy
}

// perRequest divides the CPU used between a and b by n requests.
func perRequest(a, b cpuSample, n int) cpuPerRequest {
	r := cpuPerRequest{ms: map[string]float64{}}
	if n <= 0 {
		return r
	}
	var known time.Duration
	for _, g := range cpuGroups {
		d := max(b.groups[g]-a.groups[g], 0)
		known += d
		r.ms[g] = ms(d) / float64(n)
	}
	busy := b.busy - a.busy
	r.other = ms(max(busy-known, 0)) / float64(n)
	if total := b.total - a.total; total > 0 {
		r.busy = float64(busy) / float64(total)
	}
	return r
}

// String is one line: CPU ms per request by group, the rest, machine busy.
func (r cpuPerRequest) String() string {
	if r.ms == nil {
		return "cpu accounting: /proc unreadable"
	}
	var b strings.Builder
	b.WriteString("cpu ms/request:")
	for _, g := range cpuGroups {
		if g == "clamd" && r.ms[g] < 0.005 {
			continue // idle in these phases
		}
		label := g
		if g == "mrbench" {
			label = "load"
		}
		fmt.Fprintf(&b, " %s %.3f", label, r.ms[g])
	}
	fmt.Fprintf(&b, " other %.3f; machine busy %.0f %%", r.other, 100*r.busy)
	return b.String()
}

// known is the CPU ms per request of the groups (not the rest of the
// machine, which other work on a shared machine inflates).
func (r cpuPerRequest) known() float64 {
	var t float64
	for _, v := range r.ms {
		t += v
	}
	return t
}

// cpuBounds prints, per compared pair, the CPU per request of the known
// processes and the ratio of throughputs that CPU allows when the machine
// is CPU-bound (every process here shares the same cores): raw's CPU over
// mediarepo's. Pairs never measured are skipped.
func (r *httpRun) cpuBounds() {
	g := r.figs
	pair := func(what, raw, ours string) {
		a, b := g["cpu "+raw], g["cpu "+ours]
		if len(a) == 0 || len(b) == 0 || b.median() <= 0 {
			return
		}
		fmt.Printf("figure: CPU per request of load generator + MinIO + mediarepo + PostgreSQL, %s: raw %.3f ms, mediarepo %.3f ms; a CPU-bound machine allows at most %.2f× raw\n",
			what, a.median(), b.median(), a.median()/b.median())
	}
	small := formatSize(r.cfg.small)
	pair(small+" uploads c16, S3", "small raw", "small s3")
	pair(small+" uploads c16, S3+PostgreSQL", "small raw", "small s3-pg")
	pair(small+" downloads c16, S3", "smalldl raw", "smalldl s3")
	for _, size := range r.cfg.large {
		for _, op := range []string{"PUT", "GET"} {
			pair(fmt.Sprintf("%s %s, S3", formatSize(size), op), fmt.Sprintf("%s %d raw", op, size), fmt.Sprintf("%s %d s3", op, size))
		}
	}
}

// accountCPU runs fn, n requests, and returns the CPU they cost per
// request. A failed /proc read costs the accounting, never the run.
func accountCPU(n int, fn func() error) (cpuPerRequest, error) {
	a, aerr := sampleCPU()
	if err := fn(); err != nil {
		return cpuPerRequest{}, err
	}
	b, berr := sampleCPU()
	if aerr != nil || berr != nil {
		return cpuPerRequest{}, nil
	}
	return perRequest(a, b, n), nil
}
