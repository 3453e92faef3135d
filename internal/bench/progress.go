package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress writes status lines to stderr. On a terminal a running phase
// rewrites one line in place; elsewhere (logs, CI, pipes) it prints a line
// every few seconds, so a long run shows it is alive without flooding.
type progress struct {
	w     io.Writer
	tty   bool
	every time.Duration

	mu      sync.Mutex // serialises writes
	pending bool       // a \r line is on screen and needs a newline
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, every: 2 * time.Second}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.every = true, 500*time.Millisecond
		}
	}
	return p
}

func (p *progress) println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending {
		fmt.Fprint(p.w, "\n")
		p.pending = false
	}
	fmt.Fprintln(p.w, s)
}

func (p *progress) status(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K"+s)
		p.pending = true
		return
	}
	fmt.Fprintln(p.w, s)
}

// start prints label and, until the returned stop is called, the line
// status(elapsed) at intervals; stop prints a final line with what status
// says then.
func (p *progress) start(label string, status func(elapsed time.Duration) string) (stop func()) {
	begin := time.Now()
	p.println(label + " …")
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(p.every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				p.status("  " + label + ": " + status(time.Since(begin)))
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			p.println("  " + label + ": " + status(time.Since(begin)) + " (done)")
		})
	}
}

// countStatus formats "done/total unit, rate unit/s, ETA" for a phase that
// works through a known amount.
func countStatus(done, total float64, unit string, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s %s", short(done), short(total), unit)
	if s := elapsed.Seconds(); s > 0 {
		rate := done / s
		fmt.Fprintf(&b, ", %s %s/s", short(rate), unit)
		if rate > 0 && done < total {
			eta := time.Duration((total - done) / rate * float64(time.Second))
			fmt.Fprintf(&b, ", ETA %s", eta.Round(time.Second))
		}
	}
	return b.String()
}

// timeStatus formats "elapsed/planned" with an ETA for a phase that runs
// for a set time.
func timeStatus(elapsed, planned time.Duration) string {
	s := fmt.Sprintf("%s/%s", elapsed.Round(time.Second), planned)
	if elapsed < planned {
		s += fmt.Sprintf(", ETA %s", (planned - elapsed).Round(time.Second))
	}
	return s
}

// short formats a count with a k/M/G suffix.
func short(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}
