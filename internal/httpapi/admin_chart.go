package httpapi

import (
	"context"
	"time"

	"github.com/mediarepo/mediarepo/internal/daily"
)

// Daily reads the per-day counters (daily.Counters) for the officers'
// chart.
type Daily interface {
	Last(ctx context.Context, end time.Time, n int, kinds ...string) ([]daily.Day, error)
}

// chartDays is the chart's span.
const chartDays = 30

// Chart geometry (SVG user units): plot area, margins, per-day slot.
const (
	chartW, chartH            = 640, 180
	chartLeft, chartBottom    = 40, 24
	chartTop                  = 10
	chartSlot                 = (chartW - chartLeft - 8) / chartDays
	chartBarW                 = (chartSlot - 4) / 2
	chartPlotH                = chartH - chartTop - chartBottom
	colorInfected, colorBlock = "#b3261e", "#b26a00"
)

// chartBar is one bar of the SVG, positioned on the server: the page runs
// no script (strict CSP), so the chart is plain markup.
type chartBar struct {
	X, Y, W, H int
	Kind, Day  string
	Count      int64
	Fill       string
}

// chartLabel is a text on an axis.
type chartLabel struct {
	X, Y int
	Text string
}

// dailyChart is the view model of the chart of infections and blocks per
// day over the last 30 days.
type dailyChart struct {
	W, H, Left, Top, Bottom int
	Bars                    []chartBar
	Labels                  []chartLabel
	Max                     int64
	Infected, Blocked       int64
	Colors                  map[string]string
}

// buildChart lays the days out as pairs of bars scaled to the busiest day.
func buildChart(days []daily.Day) dailyChart {
	c := dailyChart{W: chartW, H: chartH, Left: chartLeft, Top: chartTop, Bottom: chartH - chartBottom,
		Colors: map[string]string{daily.Infected: colorInfected, daily.Blocked: colorBlock}}
	for _, d := range days {
		c.Max = max(c.Max, d.Counts[daily.Infected], d.Counts[daily.Blocked])
		c.Infected += d.Counts[daily.Infected]
		c.Blocked += d.Counts[daily.Blocked]
	}
	scale := max(c.Max, 1)
	for i, d := range days {
		x := chartLeft + i*chartSlot + 2
		day := d.Date.Format(time.DateOnly)
		for j, kind := range []string{daily.Infected, daily.Blocked} {
			n := d.Counts[kind]
			h := int(n * chartPlotH / scale)
			if n > 0 && h < 2 {
				h = 2
			}
			c.Bars = append(c.Bars, chartBar{X: x + j*chartBarW, Y: chartH - chartBottom - h, W: chartBarW, H: h,
				Kind: kind, Day: day, Count: n, Fill: c.Colors[kind]})
		}
		if i == 0 || i == len(days)/2 || i == len(days)-1 {
			c.Labels = append(c.Labels, chartLabel{X: x, Y: chartH - 6, Text: d.Date.Format("02.01.")})
		}
	}
	return c
}
