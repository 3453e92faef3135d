//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package bench

import "time"

// cpuTime returns the CPU time the process has used so far; ok is false
// where the platform cannot tell, as here.
func cpuTime() (time.Duration, bool) { return 0, false }
