package daily_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/daily"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

func TestCountsPerDay(t *testing.T) {
	ctx := context.Background()
	c, err := daily.New(ctx, testenv.JetStream(t), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	today := time.Date(2026, 12, 7, 15, 4, 5, 0, time.UTC)
	// 3 infections today from concurrent writers (two processes would
	// share the bucket the same way), 1 yesterday, 2 blocks 29 days ago,
	// 1 block 30 days ago (outside the window).
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := c.Add(ctx, daily.Infected, today); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, ev := range []struct {
		kind string
		at   time.Time
	}{
		{daily.Infected, today.AddDate(0, 0, -1).Add(-15 * time.Hour)},
		{daily.Blocked, today.AddDate(0, 0, -29)},
		{daily.Blocked, today.AddDate(0, 0, -29)},
		{daily.Blocked, today.AddDate(0, 0, -30)},
	} {
		if err := c.Add(ctx, ev.kind, ev.at); err != nil {
			t.Fatal(err)
		}
	}
	days, err := c.Last(ctx, today, 30, daily.Infected, daily.Blocked)
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 30 || !days[29].Date.Equal(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) || !days[0].Date.Equal(time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("days: %d, first %v, last %v", len(days), days[0].Date, days[len(days)-1].Date)
	}
	want := map[int][2]int64{29: {3, 0}, 28: {1, 0}, 0: {0, 2}}
	for i, d := range days {
		w := want[i]
		if d.Counts[daily.Infected] != w[0] || d.Counts[daily.Blocked] != w[1] {
			t.Errorf("day %d (%s): %v, want infected %d blocked %d", i, d.Date.Format(time.DateOnly), d.Counts, w[0], w[1])
		}
	}
}
