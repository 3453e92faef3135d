// Package ingest is sluice's front door for device events: it takes events
// over HTTP (POST /v1/streams/{stream}/records) and MQTT (an embedded
// mochi-mqtt broker) and appends them to the durable stream.
//
// Every event is kept byte for byte as the device sent it; many events from
// many concurrent requests are packed into one stream message (a frame, see
// stream.AppendFrame) by a per-stream group committer, so that one fsync
// covers thousands of events.
//
// Concurrency: a Service is safe for concurrent use by any number of HTTP
// requests, MQTT clients and Publish callers. Background goroutines (one
// committer per stream, the MQTT connections) are all started through
// Service.goroutine and waited for by Shutdown.
//
// Invariants:
//   - A caller (HTTP response 200, MQTT PUBACK, Publish returning nil) is told
//     that an event is accepted only after the frame holding it was
//     acknowledged by stream.Broker.Publish, i.e. is durable. An MQTT
//     publish whose frame failed is not acknowledged; the client is
//     disconnected and redelivers (see mqtt.go).
//   - Bytes held for the stream (HTTP bodies being read and parsed, encoded
//     events queued or in flight) never exceed Options.QueueBytes, except
//     that one sender is always admitted into an otherwise empty queue so
//     that progress is possible; beyond the limit HTTP callers get 429,
//     Publish callers stream.ErrBackpressure and MQTT clients wait: never a
//     silent drop, never unbounded memory.
//   - Invalid events are reported to the sender with their index and reason
//     and are never published; valid events of the same request are.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/stream"
)

// Defaults for zero Options fields.
const (
	DefaultMaxBodyBytes     = 8 << 20
	DefaultMaxRecordBytes   = 1 << 20
	DefaultGroupCommitBytes = 1 << 20
	DefaultQueueBytes       = 64 << 20
	DefaultPublishTimeout   = 10 * time.Second
	DefaultMaxInflight      = 1
)

// Options configure a Service. A zero field means its default.
type Options struct {
	MaxBodyBytes     int64 // 0 = 8 MiB; a larger HTTP body (compressed or not) is answered 413
	MaxRecordBytes   int64 // 0 = 1 MiB; a larger single event is rejected with reason "too_large"
	GroupCommitBytes int64 // 0 = 1 MiB: max size of one coalesced stream message (frame); a lone larger event goes alone
	QueueBytes       int64 // 0 = 64 MiB: bytes waiting for the stream; beyond -> 429 with Retry-After
	// Streams lists the stream names accepted over HTTP (404 for others);
	// nil accepts any stream that exists in the broker.
	Streams []string
	// Topics maps MQTT topic patterns to streams; nil = devices/+/telemetry -> events.
	Topics []TopicMapping

	// PublishTimeout bounds one stream publish; 0 = 10 s. A publish that
	// times out fails every request in its frame (503), which retry.
	PublishTimeout time.Duration
	// MaxInflight is how many frames of one stream may be published at once;
	// 0 = 1. While a publish is in flight new arrivals accumulate for the
	// next frame. 1 keeps stream order equal to arrival order and measured
	// best (the store serializes fsyncs anyway); with more, frames of one
	// large request may land in the stream out of order.
	MaxInflight int
	// MQTTAuth authenticates MQTT clients and checks topic ACLs (a mochi
	// hook providing OnConnectAuthenticate and OnACLCheck); nil allows all.
	MQTTAuth mqtt.Hook
}

// TopicMapping sends MQTT publishes whose topic matches Pattern (MQTT
// wildcards: + one level, # the rest) to Stream. The level matched by the
// first + is the device id.
type TopicMapping struct{ Pattern, Stream string }

// DefaultTopics returns the mapping used when Options.Topics is nil:
// devices/+/telemetry to the events stream.
func DefaultTopics() []TopicMapping {
	return []TopicMapping{{Pattern: "devices/+/telemetry", Stream: stream.DefaultStream}}
}

// ErrShuttingDown is returned by Publish once Shutdown has begun.
var ErrShuttingDown = errors.New("ingest: shutting down")

// ErrRecordTooLarge is returned by Publish for an event over MaxRecordBytes.
var ErrRecordTooLarge = errors.New("ingest: record too large")

// Service ingests events into a stream.Broker. Create it with New.
type Service struct {
	// Set in New, read-only afterwards.
	broker  stream.Broker
	opts    Options
	log     *slog.Logger
	m       *metrics
	topics  []topicPattern
	allowed map[string]bool // nil = any existing stream
	limit   *queueLimit
	// baseCtx bounds every publish; cancelled when Shutdown gives up waiting.
	baseCtx    context.Context
	cancelBase context.CancelFunc

	// gate admits requests: handlers enter under gate.RLock unless closing,
	// Shutdown sets closing under gate.Lock and then waits for active.
	gate    sync.RWMutex
	closing bool           // guarded by gate
	active  sync.WaitGroup // admitted requests, MQTT publishes and Publish calls
	closed  atomic.Bool    // mirror of closing for lock-free fast checks

	// wg counts every goroutine started through goroutine; quit refuses new
	// ones once the committers have been told to stop.
	wg     sync.WaitGroup
	goMu   sync.Mutex
	goQuit bool // guarded by goMu

	mu         sync.Mutex
	committers map[string]*committer // guarded by mu
	known      map[string]bool       // existing streams seen in the broker; guarded by mu
	knownAt    time.Time             // when the listing in known was started; guarded by mu
	knownMu    sync.Mutex            // serializes listings; taken before mu

	mqttMu sync.Mutex
	mqtt   *mqttFront // guarded by mqttMu; nil until StartMQTT
}

// New returns a Service publishing through broker. reg receives the
// service's metrics (nil: metrics are kept but not exported).
func New(broker stream.Broker, opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	if broker == nil {
		return nil, errors.New("ingest: nil broker")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes < 0 || opts.MaxRecordBytes < 0 || opts.GroupCommitBytes < 0 || opts.QueueBytes < 0 ||
		opts.PublishTimeout < 0 || opts.MaxInflight < 0 {
		return nil, errors.New("ingest: negative option")
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxRecordBytes == 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if opts.GroupCommitBytes == 0 {
		opts.GroupCommitBytes = DefaultGroupCommitBytes
	}
	if opts.QueueBytes == 0 {
		opts.QueueBytes = DefaultQueueBytes
	}
	if opts.PublishTimeout == 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	if opts.MaxInflight == 0 {
		opts.MaxInflight = DefaultMaxInflight
	}
	if opts.Topics == nil {
		opts.Topics = DefaultTopics()
	}
	topics, err := compileTopics(opts.Topics)
	if err != nil {
		return nil, err
	}
	s := &Service{
		broker:     broker,
		opts:       opts,
		log:        logger,
		topics:     topics,
		limit:      newQueueLimit(opts.QueueBytes),
		committers: make(map[string]*committer),
	}
	if opts.Streams != nil {
		s.allowed = make(map[string]bool, len(opts.Streams))
		for _, n := range opts.Streams {
			s.allowed[n] = true
		}
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if s.m, err = newMetrics(reg); err != nil {
		return nil, fmt.Errorf("ingest: registering metrics: %w", err)
	}
	s.limit.gauge = s.m.queueBytes
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	return s, nil
}

// goroutine runs fn in a goroutine counted by s.wg and labelled for pprof;
// it refuses (returns false) once Shutdown has stopped the committers.
func (s *Service) goroutine(name string, fn func()) bool {
	s.goMu.Lock()
	defer s.goMu.Unlock()
	if s.goQuit {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		pprof.Do(context.Background(), pprof.Labels("sluice", "ingest/"+name), func(context.Context) { fn() })
	}()
	return true
}

// enter admits one request, MQTT publish or Publish call; it fails once
// Shutdown has begun. Each successful enter is paired with leave.
func (s *Service) enter() bool {
	s.gate.RLock()
	defer s.gate.RUnlock()
	if s.closing {
		return false
	}
	s.active.Add(1)
	return true
}

func (s *Service) leave() { s.active.Done() }

// Shutdown stops accepting events (MQTT closes, the HTTP handler answers
// 503, Publish fails with ErrShuttingDown), waits until everything already
// accepted is published and answered, and stops the committers. If ctx ends
// first, in-flight publishes are cancelled (their senders get errors and
// retry) and ctx's error is returned.
func (s *Service) Shutdown(ctx context.Context) error {
	s.gate.Lock()
	s.closing = true
	s.closed.Store(true)
	s.gate.Unlock()
	s.limit.wakeAll()

	s.mqttMu.Lock()
	front := s.mqtt
	s.mqtt = nil // a second Shutdown must not close it again
	s.mqttMu.Unlock()
	var errs []error
	if front != nil {
		if err := front.close(); err != nil {
			errs = append(errs, fmt.Errorf("ingest: closing MQTT: %w", err))
		}
	}

	done := make(chan struct{})
	go func() {
		s.active.Wait() // every admitted sender has its answer: nothing is queued any more
		s.goMu.Lock()
		s.goQuit = true
		s.goMu.Unlock()
		s.mu.Lock()
		for _, c := range s.committers {
			c.stop()
		}
		s.mu.Unlock()
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancelBase()
		errs = append(errs, fmt.Errorf("ingest: shutdown: %w", ctx.Err()))
	}
	s.cancelBase()
	return errors.Join(errs...)
}
