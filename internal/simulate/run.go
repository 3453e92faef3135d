package simulate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats summarise a Run.
type Stats struct {
	Generated int64         // events taken from the generator
	Sent      int64         // events the sink accepted
	Errors    int64         // events in Send calls that failed as a whole
	Rejected  int64         // events the receiver refused individually
	Labels    int64         // labels written
	Batches   int64         // Send calls completed
	Elapsed   time.Duration // wall time of the run
	// Rejects holds the first few individual rejects (indexes are within
	// their batch), to show why.
	Rejects []RecordError
}

// EventsPerSecond is the accepted events per second of wall time.
func (s Stats) EventsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Elapsed.Seconds()
}

// String is the summary line Run prints at the end.
func (s Stats) String() string {
	return fmt.Sprintf("sent %d events in %s (%.0f events/s), %d errors, %d rejected, %d labels",
		s.Sent, s.Elapsed.Round(time.Millisecond), s.EventsPerSecond(), s.Errors, s.Rejected, s.Labels)
}

const maxKeptRejects = 10

// Run generates events for opts and sends them to sink in batches of
// opts.Batch with opts.Workers concurrent Send calls, until the run ends
// (Duration or MaxEvents) or ctx is done. It writes a progress line to
// progress (if not nil), rewritten in place with '\r' about four times a
// second, then a summary line; and every label as one JSON line to labels
// (if not nil).
//
// A run without Duration and MaxEvents ends only with ctx, and then Run
// returns nil. Otherwise an early end returns ctx's error. Failed Send
// calls do not stop the run (the receiver may recover); Run returns an
// error naming the first one, with the Stats. Individual rejects are only
// counted.
func Run(ctx context.Context, opts Options, sink Sink, progress, labels io.Writer) (Stats, error) {
	g, err := NewGenerator(opts)
	if err != nil {
		return Stats{}, err
	}
	return RunGenerator(ctx, g, sink, progress, labels)
}

// RunGenerator is Run with a generator the caller made, for example to learn
// its Start or device ids first. g must not have been used yet if the run
// is to be paced from its start.
func RunGenerator(ctx context.Context, g *Generator, sink Sink, progress, labels io.Writer) (Stats, error) {
	opts := g.Options()
	r := &runner{g: g, opts: opts, sink: sink, start: time.Now()}
	if labels != nil {
		r.labels = bufio.NewWriterSize(labels, 64<<10)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	r.free = make(chan *chunk, 2*opts.Workers+1)
	for range cap(r.free) {
		r.free <- &chunk{}
	}
	work := make(chan *chunk, opts.Workers)
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.send(runCtx, work)
		}()
	}
	stopProgress := func() {}
	if progress != nil {
		stopProgress = r.startProgress(progress)
	}

	var genErr error
	if opts.RealTime {
		genErr = r.generatePaced(runCtx, work)
	} else {
		genErr = r.generate(runCtx, work)
	}
	close(work)
	wg.Wait()
	if r.labels != nil {
		if err := r.labels.Flush(); err != nil && genErr == nil {
			genErr = fmt.Errorf("simulate: writing labels: %w", err)
		}
	}
	st := r.stats()
	stopProgress()
	if progress != nil {
		fmt.Fprintf(progress, "\r%s\n", padRight(st.String(), r.lastLen))
	}

	switch {
	case genErr != nil && errors.Is(genErr, ctx.Err()) && opts.Duration == 0 && opts.MaxEvents == 0:
		genErr = nil // an open-ended run ends with its context
	case genErr != nil && ctx.Err() != nil:
		genErr = fmt.Errorf("simulate: run stopped early: %w", genErr)
	}
	if genErr != nil {
		return st, genErr
	}
	if r.firstErr != nil {
		return st, fmt.Errorf("simulate: %d of %d events not delivered; first failure: %w", st.Errors, st.Generated, r.firstErr)
	}
	return st, nil
}

type runner struct {
	g      *Generator
	opts   Options
	sink   Sink
	start  time.Time
	labels *bufio.Writer
	lbuf   []byte
	free   chan *chunk

	generated, sent, errs, rejected, nlabels, batches atomic.Int64

	mu       sync.Mutex
	firstErr error
	rejects  []RecordError

	lastLen int // length of the last progress line (progress goroutine, then Run)
}

// chunk is one batch: events are slices of buf at the offsets in ends.
type chunk struct {
	buf    []byte
	ends   []int
	events [][]byte
	first  time.Time // wall time of the first event (paced runs)
}

func (c *chunk) reset() {
	c.buf, c.ends, c.events = c.buf[:0], c.ends[:0], c.events[:0]
}

func (c *chunk) seal() {
	start := 0
	for _, e := range c.ends {
		c.events = append(c.events, c.buf[start:e:e])
		start = e
	}
}

func (r *runner) getChunk(ctx context.Context) (*chunk, error) {
	select {
	case c := <-r.free:
		c.reset()
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *runner) dispatch(ctx context.Context, work chan<- *chunk, c *chunk) error {
	c.seal()
	select {
	case work <- c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *runner) writeLabels(ls []Label) error {
	if r.labels == nil || len(ls) == 0 {
		return nil
	}
	for i := range ls {
		r.lbuf = append(ls[i].AppendJSON(r.lbuf[:0]), '\n')
		if _, err := r.labels.Write(r.lbuf); err != nil {
			return fmt.Errorf("simulate: writing labels: %w", err)
		}
	}
	r.nlabels.Add(int64(len(ls)))
	return nil
}

// generate fills batches as fast as the workers take them.
func (r *runner) generate(ctx context.Context, work chan<- *chunk) error {
	for {
		c, err := r.getChunk(ctx)
		if err != nil {
			return err
		}
		for len(c.ends) < r.opts.Batch {
			buf, ev, ok := r.g.Next(c.buf)
			if !ok {
				if len(c.ends) > 0 {
					return r.dispatch(ctx, work, c)
				}
				return nil
			}
			c.buf = buf
			c.ends = append(c.ends, len(buf))
			r.generated.Add(1)
			if err := r.writeLabels(ev.Labels); err != nil {
				return err
			}
		}
		if err := r.dispatch(ctx, work, c); err != nil {
			return err
		}
	}
}

// generatePaced releases each event when the wall clock reaches its
// delivery time, batching what is due for at most FlushInterval.
func (r *runner) generatePaced(ctx context.Context, work chan<- *chunk) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sleep := func(d time.Duration) error {
		timer.Reset(d)
		select {
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	simStart := r.g.Start()
	var (
		scratch []byte
		due     time.Time
		have    bool
		c       *chunk
	)
	for {
		if c == nil {
			var err error
			if c, err = r.getChunk(ctx); err != nil {
				return err
			}
		}
		if !have {
			var ev Event
			var ok bool
			scratch, ev, ok = r.g.Next(scratch[:0])
			if !ok {
				if len(c.ends) > 0 {
					return r.dispatch(ctx, work, c)
				}
				return nil
			}
			r.generated.Add(1)
			if err := r.writeLabels(ev.Labels); err != nil {
				return err
			}
			have, due = true, r.start.Add(ev.Delivery.Sub(simStart))
		}
		now := time.Now()
		if !due.After(now) {
			if len(c.ends) == 0 {
				c.first = now
			}
			c.buf = append(c.buf, scratch...)
			c.ends = append(c.ends, len(c.buf))
			have = false
			if len(c.ends) >= r.opts.Batch {
				if err := r.dispatch(ctx, work, c); err != nil {
					return err
				}
				c = nil
			}
			continue
		}
		wait := due.Sub(now)
		if len(c.ends) > 0 {
			flushAt := c.first.Add(r.opts.FlushInterval)
			if !flushAt.After(now) {
				if err := r.dispatch(ctx, work, c); err != nil {
					return err
				}
				c = nil
				continue
			}
			wait = min(wait, flushAt.Sub(now))
		}
		if err := sleep(wait); err != nil {
			return err
		}
	}
}

func (r *runner) send(ctx context.Context, work <-chan *chunk) {
	for c := range work {
		err := r.sink.Send(ctx, c.events)
		n := int64(len(c.events))
		var rej *RejectError
		switch {
		case err == nil:
			r.sent.Add(n)
		case errors.As(err, &rej):
			r.sent.Add(n - int64(rej.Rejected))
			r.rejected.Add(int64(rej.Rejected))
			r.mu.Lock()
			for _, re := range rej.Records {
				if len(r.rejects) < maxKeptRejects {
					r.rejects = append(r.rejects, re)
				}
			}
			r.mu.Unlock()
		case ctx.Err() != nil:
			// Cut off by the end of the run: neither sent nor failed.
		default:
			r.errs.Add(n)
			r.mu.Lock()
			if r.firstErr == nil {
				r.firstErr = err
			}
			r.mu.Unlock()
		}
		r.batches.Add(1)
		r.free <- c
	}
}

func (r *runner) stats() Stats {
	r.mu.Lock()
	rejects := append([]RecordError(nil), r.rejects...)
	r.mu.Unlock()
	return Stats{
		Generated: r.generated.Load(),
		Sent:      r.sent.Load(),
		Errors:    r.errs.Load(),
		Rejected:  r.rejected.Load(),
		Labels:    r.nlabels.Load(),
		Batches:   r.batches.Load(),
		Elapsed:   time.Since(r.start),
		Rejects:   rejects,
	}
}

// progressEvery is how often the progress line is rewritten.
const progressEvery = 250 * time.Millisecond

// startProgress rewrites the progress line until the returned function is
// called; that function returns after the last write.
func (r *runner) startProgress(w io.Writer) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		lastSent, lastAt := int64(0), r.start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				sent := r.sent.Load()
				rate := float64(sent-lastSent) / now.Sub(lastAt).Seconds()
				lastSent, lastAt = sent, now
				line := fmt.Sprintf("sent %d events  %.0f events/s  %d errors  %d rejected  %s elapsed",
					sent, rate, r.errs.Load(), r.rejected.Load(), now.Sub(r.start).Round(100*time.Millisecond))
				fmt.Fprintf(w, "\r%s", padRight(line, r.lastLen))
				r.lastLen = len(line)
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// padRight pads s with spaces to at least n bytes, so a shorter line
// overwrites all of a longer one after '\r'.
func padRight(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}
