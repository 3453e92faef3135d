//go:build !unix

package event_test

import "time"

// processCPU is not measured here; benchmarks then skip cpu-ns/op.
func processCPU() time.Duration { return 0 }
