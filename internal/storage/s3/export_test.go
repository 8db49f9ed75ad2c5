package s3

// CountCollections replaces the store's forced collection with a counter
// and drops the interval between two, for tests of when it runs.
func CountCollections(s *Store) (calls func() int) {
	done := make(chan struct{}, 64)
	s.release.minInterval = 0
	s.release.collect = func() { done <- struct{}{} }
	n := 0
	return func() int {
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
