package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseSize reads "1MB", "256MB", "1GB" (powers of 1000), "16MiB",
// "1GiB" (powers of 1024) or a plain number of bytes.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		factor int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
	}
	s = strings.TrimSpace(s)
	factor := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, factor = rest, u.factor
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (KB, MB, GB, KiB, MiB, GiB)", s)
	}
	return n * factor, nil
}

// parseSizes reads a comma-separated list of sizes.
func parseSizes(list string) ([]int64, error) {
	var sizes []int64
	for _, s := range strings.Split(list, ",") {
		n, err := parseSize(s)
		if err != nil {
			return nil, err
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// formatSize prints n in the largest decimal unit that divides it.
func formatSize(n int64) string {
	switch {
	case n >= 1e9 && n%1e9 == 0:
		return fmt.Sprintf("%dGB", n/1e9)
	case n >= 1e6 && n%1e6 == 0:
		return fmt.Sprintf("%dMB", n/1e6)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1e3 && n%1e3 == 0:
		return fmt.Sprintf("%dKB", n/1e3)
	}
	return fmt.Sprintf("%dB", n)
}
