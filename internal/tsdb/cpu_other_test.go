//go:build !unix

package tsdb_test

import "time"

// processCPU is not measured here; benchmarks then skip points/cpu-s.
func processCPU() time.Duration { return 0 }
