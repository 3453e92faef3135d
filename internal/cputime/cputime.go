// Package cputime reads the CPU time this process has used. Benchmarks on
// shared machines report rates per CPU-second as well as per second of
// wall time: other processes slow the clock figures down, but do not
// dilute CPU time.
package cputime

import "time"

// Process returns the user plus system CPU time the process has used so
// far; ok is false where the platform cannot tell.
func Process() (d time.Duration, ok bool) { return process() }

// Now is Process without ok: 0 where the platform cannot tell, so that a
// benchmark's difference of two readings is 0 and it skips its per-CPU
// figure.
func Now() time.Duration {
	d, _ := process()
	return d
}
