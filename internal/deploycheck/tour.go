package deploycheck

import (
	"errors"
	"strings"
)

// Markers around the tour in README.md; the block between them is a
// ```sh fence holding exactly `scripts/tour --print`.
const (
	tourBegin = "<!-- tour:begin (generated: scripts/tour --print) -->"
	tourEnd   = "<!-- tour:end -->"
)

// readmeTour returns the commands of README.md's tour block.
func readmeTour(readme string) (string, error) {
	_, rest, ok := strings.Cut(readme, tourBegin)
	if !ok {
		return "", errors.New("README.md has no line " + tourBegin)
	}
	block, _, ok := strings.Cut(rest, tourEnd)
	if !ok {
		return "", errors.New("README.md has no line " + tourEnd + " after the tour")
	}
	block = strings.TrimSpace(block)
	body, ok := strings.CutPrefix(block, "```sh\n")
	if !ok {
		return "", errors.New("the tour block must start with a ```sh fence")
	}
	body, ok = strings.CutSuffix(body, "```")
	if !ok {
		return "", errors.New("the tour block must end with a ``` fence")
	}
	return strings.TrimSpace(body), nil
}
