package cputime

import (
	"runtime"
	"testing"
)

func TestProcessGrows(t *testing.T) {
	d0, ok := Process()
	if !ok {
		t.Skip("no CPU time on " + runtime.GOOS)
	}
	x := 0
	for i := range 50_000_000 {
		x += i ^ x
	}
	if d1, _ := Process(); d1 <= d0 || x == 42 {
		t.Fatalf("CPU time %v then %v", d0, d1)
	}
}
