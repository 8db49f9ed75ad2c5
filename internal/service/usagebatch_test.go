package service

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/catalog/postgres"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestUsageBatchesExact: many concurrent additions of several users
// through the batches, on both catalogs, count every delta exactly once:
// the totals equal the sums, and every member saw a total that includes
// its own delta.
func TestUsageBatchesExact(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) catalog.Usages{
		"kv": func(t *testing.T) catalog.Usages {
			c, err := kv.New(t.Context(), testenv.JetStream(t), kv.Options{}, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		"postgres": func(t *testing.T) catalog.Usages { return openPostgres(t, testenv.PostgresDB(t)) },
	} {
		t.Run(name, func(t *testing.T) {
			u := open(t)
			b := newUsageBatches(u)
			const users, perUser = 3, 40
			var wg sync.WaitGroup
			for i := range users {
				user := fmt.Sprintf("@user%d:example.org", i)
				for j := range perUser {
					wg.Go(func() {
						d := catalog.Usage{Bytes: int64(1000*i + j + 1), Files: 1}
						total, err := b.add(t.Context(), user, d)
						if err != nil {
							t.Error(err)
							return
						}
						if total.Bytes < d.Bytes || total.Files < 1 {
							t.Errorf("%s added %+v and saw the total %+v", user, d, total)
						}
					})
				}
			}
			wg.Wait()
			for i := range users {
				user := fmt.Sprintf("@user%d:example.org", i)
				want := catalog.Usage{Files: perUser}
				for j := range perUser {
					want.Bytes += int64(1000*i + j + 1)
				}
				if got, err := u.GetUsage(t.Context(), user); err != nil || got != want {
					t.Errorf("%s: usage %+v %v, want %+v", user, got, err, want)
				}
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if len(b.users) != 0 || b.calls > users*perUser || b.calls < users {
				t.Fatalf("after the adds: %d users still batching, %d catalog calls for %d adds", len(b.users), b.calls, users*perUser)
			}
		})
	}
}

// TestUsageBatchCoalesces: while one addition's call waits (here on the
// usage row, locked by another transaction), the additions that arrive
// join ONE next batch: two catalog calls for 16 additions, and the
// members of the second batch all see the total after all 16.
func TestUsageBatchCoalesces(t *testing.T) {
	ctx := t.Context()
	dsn := testenv.PostgresDB(t)
	u := openPostgres(t, dsn)
	const user = "@alice:example.org"
	if _, err := u.AddUsage(ctx, user, catalog.Usage{}, catalog.Usage{}); err != nil { // creates the row
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM user_usage WHERE user_id = $1 FOR UPDATE", user); err != nil {
		t.Fatal(err)
	}

	b := newUsageBatches(u)
	d := catalog.Usage{Bytes: 10, Files: 1}
	totals := make(chan catalog.Usage, 16)
	add := func() {
		total, err := b.add(ctx, user, d)
		if err != nil {
			t.Error(err)
		}
		totals <- total
	}
	go add()
	waitBatches(t, b, func() bool { return b.calls == 1 && b.users[user] != nil && b.users[user].next == nil })
	for range 15 {
		go add()
	}
	waitBatches(t, b, func() bool { return b.users[user].next != nil && b.users[user].next.members == 15 })
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[catalog.Usage]int{}
	for range 16 {
		got[<-totals]++
	}
	want := map[catalog.Usage]int{{Bytes: 10, Files: 1}: 1, {Bytes: 160, Files: 16}: 15}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("totals seen %v, want %v", got, want)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.calls != 2 {
		t.Fatalf("%d catalog calls for 16 additions, want 2", b.calls)
	}
}

// TestUsageBatchError: when the batch's catalog call fails, every member
// gets the error and nothing is counted.
func TestUsageBatchError(t *testing.T) {
	ctx := t.Context()
	direct, failing, proxy := cutCatalogs(t, "INSERT INTO user_usage", true)
	b := newUsageBatches(failing)
	const user = "@bob:example.org"
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if total, err := b.add(ctx, user, catalog.Usage{Bytes: 10, Files: 1}); err == nil {
				t.Errorf("an addition whose call was cut succeeded: %+v", total)
			}
		})
	}
	wg.Wait()
	b.mu.Lock()
	calls := b.calls
	b.mu.Unlock()
	if n := proxy.cuts.Load(); n != calls || n < 1 {
		t.Fatalf("%d calls cut, %d made", n, calls)
	}
	if got, err := direct.GetUsage(ctx, user); err != nil || got != (catalog.Usage{}) {
		t.Fatalf("usage after failed additions: %+v %v", got, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.users) != 0 {
		t.Fatalf("%d users still batching after every call failed", len(b.users))
	}
}

// waitBatches waits until cond holds under b's lock.
func waitBatches(t *testing.T, b *usageBatches, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		b.mu.Lock()
		ok := cond()
		b.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the batches did not reach the expected state within a minute")
		}
	}
}

// BenchmarkUsageOneUser: 16 goroutines add to one user's usage without
// a limit, each call on its own (the row lock or compare-and-set
// serializes them) or through the batches (issue 18).
func BenchmarkUsageOneUser(b *testing.B) {
	for _, backend := range []string{"postgres", "kv"} {
		var u catalog.Usages
		if backend == "postgres" {
			c, err := postgres.New(b.Context(), postgres.Options{DSN: testenv.PostgresDB(b)}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Close() })
			u = c
		} else {
			c, err := kv.New(b.Context(), testenv.JetStream(b), kv.Options{}, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Close() })
			u = c
		}
		batches := newUsageBatches(u)
		for name, add := range map[string]func(context.Context, catalog.Usage) error{
			"direct": func(ctx context.Context, d catalog.Usage) error {
				_, err := u.AddUsage(ctx, "@bench:example.org", d, catalog.Usage{})
				return err
			},
			"batched": func(ctx context.Context, d catalog.Usage) error {
				_, err := batches.add(ctx, "@bench:example.org", d)
				return err
			},
		} {
			b.Run(backend+"/"+name, func(b *testing.B) {
				b.SetParallelism(16) // × GOMAXPROCS goroutines
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := add(b.Context(), catalog.Usage{Bytes: 10_000, Files: 1}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
