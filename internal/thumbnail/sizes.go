package thumbnail

// Size is one thumbnail size that a server generates and caches.
type Size struct {
	Width, Height int
	Method        Method
}

// RecommendedSizes returns the sizes the Matrix specification recommends
// pre-generating, smallest first: 32×32 and 96×96 crop, 320×240, 640×480
// and 800×600 scale. The slice is new on every call.
func RecommendedSizes() []Size {
	return []Size{
		{32, 32, MethodCrop},
		{96, 96, MethodCrop},
		{320, 240, MethodScale},
		{640, 480, MethodScale},
		{800, 600, MethodScale},
	}
}

// Pick returns the size of sizes that best serves req: the smallest of
// req's method that is at least as wide and as high as req, else the
// largest of req's method, else (no size of that method) the largest
// of any. ok is false only when sizes is empty. The caller generates
// (or fetches from its cache) Pick's size, so that arbitrary requests
// share a few cached thumbnails.
func Pick(sizes []Size, req Request) (best Size, ok bool) {
	var (
		fit, largest, largestAny Size
		haveFit, haveLargest     bool
	)
	for _, s := range sizes {
		if area(s) > area(largestAny) {
			largestAny = s
		}
		if s.Method != req.Method {
			continue
		}
		if !haveLargest || area(s) > area(largest) {
			largest, haveLargest = s, true
		}
		if s.Width >= req.Width && s.Height >= req.Height && (!haveFit || area(s) < area(fit)) {
			fit, haveFit = s, true
		}
	}
	switch {
	case haveFit:
		return fit, true
	case haveLargest:
		return largest, true
	}
	return largestAny, len(sizes) > 0
}

// area is the pixel count of a size.
func area(s Size) int { return s.Width * s.Height }

// Request returns the request that generates this size.
func (s Size) Request(animated bool) Request {
	return Request{Width: s.Width, Height: s.Height, Method: s.Method, Animated: animated}
}
