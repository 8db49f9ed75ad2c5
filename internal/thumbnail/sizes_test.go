package thumbnail

import "testing"

func TestPick(t *testing.T) {
	sizes := RecommendedSizes()
	tests := []struct {
		req  Request
		want Size
	}{
		{Request{Width: 32, Height: 32, Method: MethodCrop}, Size{32, 32, MethodCrop}},
		{Request{Width: 1, Height: 1, Method: MethodCrop}, Size{32, 32, MethodCrop}},
		{Request{Width: 33, Height: 20, Method: MethodCrop}, Size{96, 96, MethodCrop}},
		{Request{Width: 500, Height: 500, Method: MethodCrop}, Size{96, 96, MethodCrop}},
		{Request{Width: 96, Height: 96, Method: MethodScale}, Size{320, 240, MethodScale}},
		{Request{Width: 320, Height: 241, Method: MethodScale}, Size{640, 480, MethodScale}},
		{Request{Width: 700, Height: 100, Method: MethodScale}, Size{800, 600, MethodScale}},
		{Request{Width: 2000, Height: 2000, Method: MethodScale}, Size{800, 600, MethodScale}},
	}
	for _, tt := range tests {
		if got, ok := Pick(sizes, tt.req); !ok || got != tt.want {
			t.Errorf("Pick(%+v) = %+v, %v; want %+v", tt.req, got, ok, tt.want)
		}
	}
	// No size of the method: the largest of any.
	onlyCrop := []Size{{32, 32, MethodCrop}, {96, 96, MethodCrop}}
	if got, _ := Pick(onlyCrop, Request{Width: 10, Height: 10, Method: MethodScale}); got != (Size{96, 96, MethodCrop}) {
		t.Errorf("no scale sizes: got %+v", got)
	}
	if _, ok := Pick(nil, Request{Width: 10, Height: 10, Method: MethodScale}); ok {
		t.Error("Pick on no sizes reported ok")
	}
}

func TestRecommendedSizesAreValidRequests(t *testing.T) {
	sizes := RecommendedSizes()
	if len(sizes) != 5 {
		t.Fatalf("%d sizes, want the spec's 5", len(sizes))
	}
	for _, s := range sizes {
		if err := s.Request(true).Validate(Limits{}); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	sizes[0].Width = 1
	if RecommendedSizes()[0].Width != 32 {
		t.Error("RecommendedSizes shares its slice")
	}
}
