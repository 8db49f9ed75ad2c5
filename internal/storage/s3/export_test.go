package s3

import "time"

// CountCollections replaces the store's forced collection with a counter
// and drops the interval between two, for tests of when it runs. calls
// returns the collections so far, once none is running (so that the next
// multipart upload may start one).
func CountCollections(s *Store) (calls func() int) {
	done := make(chan struct{}, 64)
	s.release.minInterval = 0
	s.release.collect = func() { done <- struct{}{} }
	n := 0
	return func() int {
		for deadline := time.Now().Add(5 * time.Second); s.release.running.Load() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		for {
			select {
			case <-done:
				n++
			default:
				return n
			}
		}
	}
}
