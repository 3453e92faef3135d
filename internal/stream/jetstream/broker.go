// Package jetstream implements stream.Broker and stream.Consumer on NATS
// JetStream, either on a server embedded in the process or on an external
// NATS JetStream server or cluster.
//
// # Layout
//
// Each sluice stream is one JetStream stream of the same name that listens
// on exactly one subject, "sluice.<name>" (see Subject): the "events" stream
// takes subject "sluice.events". Streams use file storage, the limits
// retention policy with MaxAge = Config.Retention (default 24 h), and the
// DiscardNew policy: when Config.MaxBytes is set and a publish would exceed
// it, the publish fails with stream.ErrBackpressure instead of JetStream
// silently deleting the oldest messages (DiscardOld). Expiry by age is the
// only way messages leave a stream.
//
// # Durability
//
// Publish returns only after the server has answered the publish with an
// ack, and the server answers only after it has stored the message. With the
// embedded server and SyncAlways (the default), the server runs with
// Options.SyncAlways, so its file store calls fsync on the message block
// after every write and before the ack is sent (nats-server filestore.go,
// msgBlock.flushPendingMsgsLocked: "if mb.fs.syncAlways.Load() {
// mb.mfd.Sync() }"; with one replica writes are flushed in place, fip).
// SyncInterval is an explicit opt-in that fsyncs every SyncEvery instead:
// the message is still written to the file before the ack (so a process
// crash loses nothing), but a power cut or kernel crash can lose up to
// SyncEvery of acknowledged data. Against an external server (Options.URL)
// the server's own configuration rules: a standalone server should run with
// "jetstream { sync: always }", a cluster with Replicas: 3 acks after a
// quorum has the message.
//
// Consumer acknowledgements wait for the server's confirmation (AckSync;
// Nak and Term likewise), so an ack is applied when Ack returns. The server
// persists consumer state on a short timer (about 100 ms), so a crash right
// after an Ack can still lead to a redelivery. Callers tolerate redelivery;
// nothing here can lose a message.
//
// # Concurrency
//
// A Broker and the Consumers it returns are safe for concurrent use.
// Publish admits at most Options.MaxInFlight concurrent calls and fails fast
// with stream.ErrBackpressure beyond that, so memory stays bounded when the
// store is slower than the producers. Close is called after all other calls
// have returned; calling it again is a no-op.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/stream"
)

// SyncMode chooses when the embedded server fsyncs stored messages.
type SyncMode int

const (
	// SyncAlways fsyncs every write before the publish is acknowledged.
	SyncAlways SyncMode = iota
	// SyncInterval fsyncs every Options.SyncEvery. A power cut can lose up
	// to SyncEvery of acknowledged data; a process crash loses nothing.
	SyncInterval
)

func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// Defaults for zero Options fields.
const (
	DefaultMaxPayload     = 8 << 20
	DefaultSyncEvery      = time.Second
	DefaultPublishTimeout = 10 * time.Second
	DefaultMaxInFlight    = 1024
	DefaultRetention      = 24 * time.Hour
	DefaultAckWait        = 30 * time.Second
	DefaultMaxPending     = 10000

	// SubjectPrefix is put before a stream's name to form its subject.
	SubjectPrefix = "sluice."
)

// ErrTooLarge is returned by Publish for a message larger than the server's
// maximum payload or the stream's maximum message size. Retrying cannot
// help; HTTP callers answer 413.
// It is stream.ErrTooLarge, so callers need not import this package.
var ErrTooLarge = stream.ErrTooLarge

// Options configure a Broker. A zero field means its default.
type Options struct {
	// DataDir is the root of the embedded server's JetStream file storage,
	// e.g. <data-dir>/stream. Required unless URL is set.
	DataDir string
	// Listen is the address the embedded server also accepts external
	// clients on. "" opens no port at all (the broker connects in process);
	// port 0 picks a free port.
	Listen string
	// URL, when set, connects to an external NATS JetStream server or
	// cluster instead of embedding one. DataDir, Listen, Sync, SyncEvery and
	// MaxPayload are then ignored: the server's own settings apply.
	URL string
	// Sync is the embedded server's fsync policy (default SyncAlways).
	Sync SyncMode
	// SyncEvery is the fsync period for SyncInterval; 0 = 1 s.
	SyncEvery time.Duration
	// MaxPayload is the largest message; 0 = 8 MiB.
	MaxPayload int32
	// PublishTimeout bounds one Publish; 0 = 10 s. A publish that times out
	// fails with stream.ErrBackpressure (it may still have been stored, so
	// a retry can duplicate it; consumers tolerate that).
	PublishTimeout time.Duration
	// MaxInFlight bounds concurrent Publish calls; 0 = 1024.
	MaxInFlight int
}

func (o *Options) setDefaults() {
	if o.SyncEvery <= 0 {
		o.SyncEvery = DefaultSyncEvery
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = DefaultPublishTimeout
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
}

// Broker is a stream.Broker on NATS JetStream.
type Broker struct {
	// Set in Open, read-only afterwards.
	opts     Options
	logger   *slog.Logger
	srv      *server.Server // nil with Options.URL
	nc       *nats.Conn
	js       jetstream.JetStream
	inflight chan struct{} // one token per running Publish
	closed   chan struct{} // closed by the connection's ClosedHandler

	closeOnce sync.Once
	closeErr  error // set by closeOnce

	mu      sync.Mutex
	handles map[string]jetstream.Stream // guarded by mu; stream handles for Get
}

var _ stream.Broker = (*Broker)(nil)

// Subject returns the subject the stream named name listens on.
func Subject(name string) string { return SubjectPrefix + name }

// Open starts the embedded server (unless opts.URL is set), waits until it
// accepts connections and JetStream answers, and connects to it.
func Open(ctx context.Context, opts Options, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts.setDefaults()
	b := &Broker{
		opts:     opts,
		logger:   logger,
		inflight: make(chan struct{}, opts.MaxInFlight),
		closed:   make(chan struct{}),
		handles:  make(map[string]jetstream.Stream),
	}
	natsOpts := []nats.Option{
		nats.Name("sluice"),
		nats.DrainTimeout(10 * time.Second),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			logger.Warn("nats async error", "subject", subj, "err", err)
		}),
	}
	url := opts.URL
	if url == "" {
		srv, err := startServer(ctx, opts, logger)
		if err != nil {
			return nil, err
		}
		b.srv = srv
		natsOpts = append(natsOpts, nats.InProcessServer(srv))
	} else {
		natsOpts = append(natsOpts,
			nats.MaxReconnects(-1),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				logger.Warn("nats disconnected", "err", err)
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) {
				logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
			}))
	}
	nc, err := nats.Connect(url, natsOpts...)
	if err != nil {
		b.shutdownServer()
		return nil, fmt.Errorf("jetstream: connecting to %s: %w", b.describe(), err)
	}
	b.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("jetstream: creating JetStream context: %w", err)
	}
	b.js = js
	if err := b.waitJetStream(ctx); err != nil {
		b.Close()
		return nil, err
	}
	logger.Info("stream broker ready", "mode", b.describe(), "sync", opts.Sync.String(),
		"max_payload", nc.MaxPayload(), "client_url", b.ClientURL())
	return b, nil
}

func (b *Broker) describe() string {
	if b.opts.URL != "" {
		return "external " + b.opts.URL
	}
	return "embedded " + b.opts.DataDir
}

// waitJetStream polls the JetStream API until it answers: an external
// cluster may still be electing its meta leader.
func (b *Broker) waitJetStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := b.js.AccountInfo(actx)
		acancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return fmt.Errorf("jetstream: %s has JetStream disabled: %w", b.describe(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("jetstream: waiting for JetStream on %s: %w (last error: %v)", b.describe(), ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ClientURL returns the URL external clients reach the broker at: the
// embedded server's listener, or Options.URL's connected server. It is ""
// for an embedded server without a listener.
func (b *Broker) ClientURL() string {
	if b.srv != nil {
		if b.opts.Listen == "" {
			return ""
		}
		return b.srv.ClientURL()
	}
	return b.nc.ConnectedUrlRedacted()
}

// Close drains the connection (in-flight acks and publishes complete), then
// shuts the embedded server down and waits until it has stopped, so the
// data directory can be reopened at once. Calls after the first return
// the first call's result.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.close() })
	return b.closeErr
}

func (b *Broker) close() error {
	var err error
	if b.nc != nil {
		if !b.nc.IsClosed() {
			if derr := b.nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
				err = fmt.Errorf("jetstream: draining connection: %w", derr)
				b.nc.Close()
			}
		}
		select {
		case <-b.closed:
		case <-time.After(15 * time.Second):
			b.nc.Close()
			if err == nil {
				err = errors.New("jetstream: connection did not drain in time")
			}
		}
	}
	b.shutdownServer()
	return err
}

func (b *Broker) shutdownServer() {
	if b.srv == nil {
		return
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

// validName rejects names that cannot be both a stream name and a single
// subject token.
func validName(name string) error {
	if name == "" || strings.ContainsAny(name, ".*> \t\r\n/\\") {
		return fmt.Errorf("jetstream: invalid stream name %q", name)
	}
	return nil
}

func (b *Broker) streamConfig(cfg stream.Config) jetstream.StreamConfig {
	sc := jetstream.StreamConfig{
		Name:      cfg.Name,
		Subjects:  []string{Subject(cfg.Name)},
		Retention: jetstream.LimitsPolicy,
		// DiscardNew: reaching a limit fails the publish (backpressure)
		// instead of silently deleting the oldest messages.
		Discard:  jetstream.DiscardNew,
		MaxAge:   cfg.Retention,
		MaxBytes: -1,
		MaxMsgs:  -1,
		Storage:  jetstream.FileStorage,
		Replicas: cfg.Replicas,
	}
	if sc.MaxAge <= 0 {
		sc.MaxAge = DefaultRetention
	}
	if cfg.MaxBytes > 0 {
		sc.MaxBytes = cfg.MaxBytes
	}
	if sc.Replicas <= 0 {
		sc.Replicas = 1
	}
	return sc
}

// EnsureStream creates the stream or updates its retention, size limit
// and replicas. It is idempotent.
func (b *Broker) EnsureStream(ctx context.Context, cfg stream.Config) error {
	if err := validName(cfg.Name); err != nil {
		return err
	}
	s, err := b.js.CreateOrUpdateStream(ctx, b.streamConfig(cfg))
	if err != nil {
		return fmt.Errorf("jetstream: ensuring stream %q: %w", cfg.Name, err)
	}
	b.mu.Lock()
	b.handles[cfg.Name] = s
	b.mu.Unlock()
	return nil
}

// DeleteStream removes the stream and all its messages and consumers.
func (b *Broker) DeleteStream(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.handles, name)
	b.mu.Unlock()
	if err := b.js.DeleteStream(ctx, name); err != nil {
		return fmt.Errorf("jetstream: deleting stream %q: %w", name, mapStreamErr(err))
	}
	return nil
}

// Streams lists the sluice streams (those whose subject has SubjectPrefix;
// other streams of a shared external server are left out).
func (b *Broker) Streams(ctx context.Context) ([]stream.StreamInfo, error) {
	l := b.js.ListStreams(ctx, jetstream.WithStreamListSubject(SubjectPrefix+">"))
	var out []stream.StreamInfo
	for si := range l.Info() {
		out = append(out, toInfo(si))
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("jetstream: listing streams: %w", err)
	}
	return out, nil
}

func toInfo(si *jetstream.StreamInfo) stream.StreamInfo {
	c := si.Config
	info := stream.StreamInfo{
		Config:   stream.Config{Name: c.Name, Retention: c.MaxAge, Replicas: c.Replicas},
		Msgs:     si.State.Msgs,
		Bytes:    si.State.Bytes,
		FirstSeq: si.State.FirstSeq,
		LastSeq:  si.State.LastSeq,
		Created:  si.Created,
	}
	if c.MaxBytes > 0 {
		info.Config.MaxBytes = c.MaxBytes
	}
	return info
}

// Publish stores data in the stream and returns once the server has
// acknowledged it (see the package comment for what the ack implies).
// Errors: stream.ErrBackpressure (limits reached, too many publishes in
// flight, timeout), stream.ErrNoStream, ErrTooLarge.
func (b *Broker) Publish(ctx context.Context, streamName string, data []byte) (stream.PubAck, error) {
	select {
	case b.inflight <- struct{}{}:
	default:
		return stream.PubAck{}, fmt.Errorf("jetstream: publishing to %q: %d publishes in flight: %w",
			streamName, cap(b.inflight), stream.ErrBackpressure)
	}
	defer func() { <-b.inflight }()
	if int64(len(data)) > b.nc.MaxPayload() {
		return stream.PubAck{}, fmt.Errorf("jetstream: publishing %d bytes to %q (max %d): %w",
			len(data), streamName, b.nc.MaxPayload(), ErrTooLarge)
	}
	pctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	ack, err := b.js.Publish(pctx, Subject(streamName), data)
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up; not the stream's fault.
			return stream.PubAck{}, fmt.Errorf("jetstream: publishing to %q: %w", streamName, ctx.Err())
		}
		return stream.PubAck{}, fmt.Errorf("jetstream: publishing to %q: %w", streamName, mapPublishErr(err))
	}
	return stream.PubAck{Stream: ack.Stream, Seq: ack.Sequence}, nil
}

// handle returns a cached handle of the stream, looking it up once.
func (b *Broker) handle(ctx context.Context, name string) (jetstream.Stream, error) {
	b.mu.Lock()
	s, ok := b.handles[name]
	b.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := b.js.Stream(ctx, name)
	if err != nil {
		return nil, mapStreamErr(err)
	}
	b.mu.Lock()
	b.handles[name] = s
	b.mu.Unlock()
	return s, nil
}

// Get reads the message with sequence seq directly from the stream.
func (b *Broker) Get(ctx context.Context, streamName string, seq uint64) (*stream.Message, error) {
	if err := validName(streamName); err != nil {
		return nil, err
	}
	s, err := b.handle(ctx, streamName)
	if err != nil {
		return nil, fmt.Errorf("jetstream: getting %s #%d: %w", streamName, seq, err)
	}
	if seq == 0 {
		return nil, fmt.Errorf("jetstream: getting %s #0: %w", streamName, stream.ErrNoMessage)
	}
	raw, err := s.GetMsg(ctx, seq)
	if err != nil {
		err = mapStreamErr(err)
		if errors.Is(err, stream.ErrNoStream) {
			b.mu.Lock()
			delete(b.handles, streamName)
			b.mu.Unlock()
		}
		return nil, fmt.Errorf("jetstream: getting %s #%d: %w", streamName, seq, err)
	}
	return stream.NewMessage(streamName, raw.Sequence, raw.Time, raw.Data, 0, notConsumed, notConsumedNak, notConsumed), nil
}

// Info describes one stream, fresh from the server (the Kinesis API reads
// first and last sequence for its iterators and lag).
func (b *Broker) Info(ctx context.Context, name string) (stream.StreamInfo, error) {
	if err := validName(name); err != nil {
		return stream.StreamInfo{}, err
	}
	s, err := b.handle(ctx, name)
	if err == nil {
		var si *jetstream.StreamInfo
		if si, err = s.Info(ctx); err == nil {
			return toInfo(si), nil
		}
		err = mapStreamErr(err)
		if errors.Is(err, stream.ErrNoStream) {
			b.mu.Lock()
			delete(b.handles, name)
			b.mu.Unlock()
		}
	}
	return stream.StreamInfo{}, fmt.Errorf("jetstream: stream %q info: %w", name, err)
}

var errNotConsumed = errors.New("jetstream: message was read with Get, not delivered to a consumer")

func notConsumed() error                 { return errNotConsumed }
func notConsumedNak(time.Duration) error { return errNotConsumed }
