package importer

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Bar shows a run's progress on a terminal: bytes done of the total the
// database records (with the byte rate and the ETA, from
// github.com/schollz/progressbar) and files done of the total with their
// rate. It implements Progress.
type Bar struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	total Totals
}

// NewBar returns a progress bar writing to w (the command's stderr).
func NewBar(w io.Writer) *Bar { return &Bar{w: w} }

// Start implements Progress.
func (b *Bar) Start(t Totals) {
	b.total = t
	b.bar = progressbar.NewOptions64(max(t.Bytes, 1),
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetWidth(24),
		progressbar.OptionThrottle(250*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetDescription(b.files(Report{})),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(b.w) }),
	)
}

func (b *Bar) files(r Report) string {
	rate := 0.0
	if s := r.Duration.Seconds(); s > 0 {
		rate = float64(r.Rows) / s
	}
	return fmt.Sprintf("%d/%d files (%.0f files/s)", r.Rows, b.total.Files, rate)
}

// Step implements Progress.
func (b *Bar) Step(bytes int64, r Report) {
	b.bar.Describe(b.files(r))
	_ = b.bar.Add64(bytes) // only fails writing to the terminal
}

// Finish implements Progress.
func (b *Bar) Finish(r Report) {
	b.bar.Describe(b.files(r))
	_ = b.bar.Finish()
}
