package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/lake"
	"github.com/sluice-dev/sluice/internal/stream"
)

// LakeOptions configure a LakeWriter. Zero fields mean defaults; Lake's
// fields are lake.Options' (its Stream is set from Stream).
type LakeOptions struct {
	Stream  string // default "events"
	Durable string // durable consumer name; default "lake"
	Lake    lake.Options
	// AckWait is how long the stream waits for an acknowledgement before
	// redelivering. Messages wait in the buffer up to BufferInterval, so
	// the default is 2×BufferInterval + 10 s. (It is also how long a
	// crashed writer's messages take to come back.)
	AckWait time.Duration
}

// LakeWriter is the lake's consumer loop: it fetches raw stream messages
// as the durable consumer "lake", hands them to a lake.Writer, and lets
// the writer acknowledge them once their objects are durable.
//
// Like the Processor, it is started once and stopped once; its methods are
// safe for concurrent use. Shutdown writes the buffer before it returns;
// a fetch in flight is never cancelled (the server would have handed over
// messages nobody reads, back only after AckWait).
type LakeWriter struct {
	// Set in NewLakeWriter.
	broker  stream.Broker
	w       *lake.Writer
	opts    LakeOptions
	logger  *slog.Logger
	lag     prometheus.Gauge
	flushes chan chan error // Flush requests to the loop

	msgBytes msgSize // owned by the loop

	mu       sync.Mutex
	consumer stream.Consumer
	cancel   context.CancelFunc
	done     chan struct{} // closed when the loop has ended
	wg       sync.WaitGroup
	running  atomic.Bool
	started  bool
}

// lakeIdleWait bounds one fetch while the buffer has time left, so Flush
// requests and Shutdown are noticed quickly.
const lakeIdleWait = 100 * time.Millisecond

// A Flush drains the stream with fetches that wait lakeDrainWait, and
// ends at an empty one, or after lakeDrainRetries empty ones while the
// consumer reports messages this writer does not hold.
const (
	lakeDrainWait    = 20 * time.Millisecond
	lakeDrainRetries = 50
)

// NewLakeWriter opens the lake (cleaning up after a crash, learning what is
// delivered); Start begins consuming.
func NewLakeWriter(ctx context.Context, broker stream.Broker, opts LakeOptions, logger *slog.Logger, reg prometheus.Registerer) (*LakeWriter, error) {
	if opts.Stream == "" {
		opts.Stream = stream.DefaultStream
	}
	if opts.Durable == "" {
		opts.Durable = "lake"
	}
	opts.Lake.Stream = opts.Stream
	if opts.AckWait <= 0 {
		opts.AckWait = 2*opts.Lake.BufferInterval + 10*time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Lake.StreamCreated.IsZero() {
		// Object names carry the stream's life, so that a stream created
		// again (sequences restart) does not find its events delivered.
		infos, err := broker.Streams(ctx)
		if err != nil {
			return nil, fmt.Errorf("pipeline: lake: listing streams: %w", err)
		}
		for _, in := range infos {
			if in.Config.Name == opts.Stream {
				opts.Lake.StreamCreated = in.Created
			}
		}
	}
	w, err := lake.NewWriter(opts.Lake, logger, reg)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	lag := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_lake_consumer_lag",
		Help:        "Messages the lake writer has not yet acknowledged (not delivered to it, or buffered until their objects are written).",
		ConstLabels: prometheus.Labels{"consumer": opts.Durable}})
	if reg != nil {
		reg.MustRegister(lag)
	}
	return &LakeWriter{broker: broker, w: w, opts: opts, logger: logger, lag: lag, flushes: make(chan chan error)}, nil
}

// Writer returns the lake writer (for its Buffered state in tests).
func (l *LakeWriter) Writer() *lake.Writer { return l.w }

// Start creates the consumer and starts the loop. The context bounds the
// consumer set-up only.
func (l *LakeWriter) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return errors.New("pipeline: lake writer already started")
	}
	l.started = true
	c, err := l.broker.Consumer(ctx, stream.ConsumerConfig{Stream: l.opts.Stream, Durable: l.opts.Durable,
		AckWait: l.opts.AckWait, MaxPending: 2 * l.maxMessages()})
	if err != nil {
		return fmt.Errorf("pipeline: consumer %q on stream %q: %w", l.opts.Durable, l.opts.Stream, err)
	}
	l.consumer = c
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.done = make(chan struct{})
	l.running.Store(true)
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		defer close(l.done)
		defer l.running.Store(false)
		l.run(runCtx)
	}()
	go func() { defer l.wg.Done(); l.watchLag(runCtx) }()
	return nil
}

func (l *LakeWriter) maxMessages() int {
	if l.opts.Lake.MaxMessages > 0 {
		return l.opts.Lake.MaxMessages
	}
	return 20000 // lake.Options' default
}

// Ready reports whether the loop is consuming.
func (l *LakeWriter) Ready() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.started && l.running.Load()
}

// Lag reports the messages not yet acknowledged by the lake writer.
func (l *LakeWriter) Lag(ctx context.Context) (uint64, error) {
	l.mu.Lock()
	c := l.consumer
	l.mu.Unlock()
	if c == nil {
		return 0, errors.New("pipeline: lake writer not started")
	}
	return c.Pending(ctx)
}

// Flush delivers everything the stream held when it was called: the loop
// fetches until nothing is left, writes the buffer and returns when the
// objects are durable and the messages acknowledged. (For POST
// /v1/admin/flush.)
func (l *LakeWriter) Flush(ctx context.Context) error {
	l.mu.Lock()
	done := l.done
	l.mu.Unlock()
	if done == nil {
		return errors.New("pipeline: lake writer not started")
	}
	reply := make(chan error, 1)
	select {
	case l.flushes <- reply:
	case <-done:
		return nil // stopped: Shutdown wrote the buffer
	case <-ctx.Done():
		return fmt.Errorf("pipeline: lake flush: %w", ctx.Err())
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("pipeline: lake flush: %w", ctx.Err())
	}
}

// Shutdown stops fetching, writes and acknowledges the buffer, and returns
// when that is done or ctx ends.
func (l *LakeWriter) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	cancel := l.cancel
	l.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("pipeline: lake writer shutdown: %w", ctx.Err())
	}
	var errs []error
	if msgs, _ := l.w.Buffered(); msgs > 0 {
		errs = append(errs, fmt.Errorf("pipeline: lake writer stopped with %d messages not written (the stream redelivers them)", msgs))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.consumer != nil {
		errs = append(errs, l.consumer.Close())
	}
	errs = append(errs, l.w.Close())
	return errors.Join(errs...)
}

func (l *LakeWriter) watchLag(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if lag, err := l.Lag(ctx); err == nil {
			l.lag.Set(float64(lag))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (l *LakeWriter) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	var waiting []chan error // Flush requests being served
	emptyFetches := 0        // in a row, while draining for them
	for {
		if ctx.Err() != nil {
			// Stopping: write and ack what we hold, then leave.
			for i := 0; i < 3; i++ {
				err := l.w.Flush(context.Background())
				if err == nil {
					break
				}
				l.logger.Error("pipeline: final lake flush failed; the stream will redeliver", "err", err)
			}
			for _, r := range waiting {
				r <- errors.New("pipeline: lake writer stopped")
			}
			return
		}
		select {
		case r := <-l.flushes:
			waiting = append(waiting, r)
		default:
		}
		due, wait := l.w.Due()
		if due {
			if !l.flush(ctx, &backoff) {
				continue
			}
		}
		msgs, bytes := l.w.Buffered()
		room := l.maxMessages() - msgs
		if room <= 0 {
			continue // due next round
		}
		// About as many messages as fill the rest of the buffer: a
		// group-committed message can hold hundreds of KB, and a fetch of
		// hundreds of them would make objects far over BufferBytes.
		if per := l.msgBytes.perMsg(); per > 0 {
			room = min(room, max(int((l.bufferBytes()-bytes)/per), 1))
		}
		wait = min(wait, lakeIdleWait)
		if len(waiting) > 0 {
			// Draining for a Flush: take what is there, barely wait.
			wait = lakeDrainWait
		}
		// Not ctx: cancelling a pull in flight would strand messages the
		// server already handed over (see Processor.run).
		got, err := l.fetch(min(room, 256), wait)
		if m2, b2 := l.w.Buffered(); m2 > msgs {
			l.msgBytes.observe(m2-msgs, b2-bytes)
		}
		if err != nil && ctx.Err() == nil {
			l.logger.Warn("pipeline: lake fetch failed", "consumer", l.opts.Durable, "err", err)
			sleep(ctx, backoff)
			continue
		}
		if len(waiting) > 0 && got == 0 {
			// An empty fetch can also mean the server was not ready to
			// answer (a consumer just created): while the consumer counts
			// messages this writer does not hold, look again for a while.
			// (Messages a crashed member held come back only after
			// AckWait; a Flush does not wait for those.)
			if emptyFetches < lakeDrainRetries {
				held, _ := l.w.Buffered()
				if p, err := l.consumer.Pending(context.Background()); err == nil && p > uint64(held) {
					emptyFetches++
					continue
				}
			}
			emptyFetches = 0
			// Drained: write everything and answer.
			err := l.w.Flush(context.Background())
			for _, r := range waiting {
				r <- err
			}
			waiting = waiting[:0]
		}
	}
}

func (l *LakeWriter) bufferBytes() int64 {
	if l.opts.Lake.BufferBytes > 0 {
		return l.opts.Lake.BufferBytes
	}
	return 5 << 20 // lake.Options' default
}

// msgSize is a decaying average of the event bytes per stream message.
type msgSize struct{ msgs, bytes int64 }

func (s *msgSize) observe(msgs int, bytes int64) {
	if s.msgs > 1000 {
		s.msgs, s.bytes = s.msgs/2, s.bytes/2
	}
	s.msgs += int64(msgs)
	s.bytes += bytes
}

func (s *msgSize) perMsg() int64 {
	if s.msgs == 0 {
		return 0
	}
	return max(s.bytes/s.msgs, 1)
}

// fetch pulls up to n messages and adds them to the buffer.
func (l *LakeWriter) fetch(n int, wait time.Duration) (int, error) {
	msgs, err := l.consumer.Fetch(context.Background(), n, wait)
	for _, m := range msgs {
		if aerr := l.w.Add(m); aerr != nil {
			l.logger.Error("pipeline: lake buffer refused a message; it will be redelivered", "seq", m.Seq, "err", aerr)
		}
	}
	return len(msgs), err
}

// flush writes a due buffer, backing off after failures. It reports
// whether the buffer was written.
func (l *LakeWriter) flush(ctx context.Context, backoff *time.Duration) bool {
	if err := l.w.Flush(context.Background()); err != nil {
		l.logger.Error("pipeline: lake objects not written; retrying", "err", err)
		sleep(ctx, *backoff)
		*backoff = min(*backoff*2, 5*time.Second)
		return false
	}
	*backoff = 100 * time.Millisecond
	return true
}
