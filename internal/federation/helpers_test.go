package federation

import (
	"strings"
)

// boundaryOf returns the boundary of a MultipartWriter.
func boundaryOf(m *MultipartWriter) string {
	_, b, _ := strings.Cut(m.ContentType(), "boundary=")
	return strings.Trim(b, `"`)
}
