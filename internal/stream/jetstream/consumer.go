package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/stream"
)

// ackTimeout bounds the wait for the server's confirmation of an Ack, Nak
// or Term.
const ackTimeout = 10 * time.Second

// Consumer is a member of a durable JetStream pull consumer. Members with
// the same Durable, in this process or others, share the messages: each
// message is delivered to one member at a time, and again (to any member)
// only if it is not acknowledged within AckWait or is Nak'ed.
type Consumer struct {
	// Set in Broker.Consumer, read-only afterwards.
	b       *Broker
	cfg     stream.ConsumerConfig
	c       jetstream.Consumer
	isClose atomic.Bool
}

var _ stream.Consumer = (*Consumer)(nil)

// errConsumerClosed is returned by a closed Consumer.
var errConsumerClosed = errors.New("jetstream: consumer closed")

// Consumer creates the durable consumer, or updates its AckWait and
// MaxPending, and returns a member of it. It delivers every message of the
// stream from the first one on, with explicit acks and unlimited
// redeliveries (callers Term what they dead-letter).
func (b *Broker) Consumer(ctx context.Context, cfg stream.ConsumerConfig) (stream.Consumer, error) {
	if err := validName(cfg.Stream); err != nil {
		return nil, err
	}
	if err := validName(cfg.Durable); err != nil {
		return nil, fmt.Errorf("jetstream: durable name: %w", err)
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	c, err := b.js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: cfg.MaxPending,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: creating consumer %q on %q: %w", cfg.Durable, cfg.Stream, mapStreamErr(err))
	}
	return &Consumer{b: b, cfg: cfg, c: c}, nil
}

// Fetch returns up to max messages, waiting at most wait for the first.
//
// It first asks for whatever is available now (no wait); only when nothing
// is, it waits for one message and then takes what else has arrived. A
// single JetStream pull with a wait would instead hold the batch open for
// the whole wait until max messages have arrived.
func (c *Consumer) Fetch(ctx context.Context, max int, wait time.Duration) ([]*stream.Message, error) {
	if c.isClose.Load() {
		return nil, errConsumerClosed
	}
	if max <= 0 {
		return nil, nil
	}
	out, err := c.pull(ctx, max, 0, nil)
	if err != nil || len(out) > 0 || wait <= 0 {
		return out, err
	}
	if out, err = c.pull(ctx, 1, wait, out); err != nil || len(out) == 0 || max == 1 {
		return out, err
	}
	return c.pull(ctx, max-1, 0, out)
}

// pull runs one pull request (no wait if wait is 0) and appends the
// messages to out.
func (c *Consumer) pull(ctx context.Context, max int, wait time.Duration, out []*stream.Message) ([]*stream.Message, error) {
	var (
		batch jetstream.MessageBatch
		err   error
	)
	if wait > 0 {
		batch, err = c.c.Fetch(max, jetstream.FetchMaxWait(wait))
	} else {
		batch, err = c.c.FetchNoWait(max)
	}
	if err != nil {
		return out, c.fetchErr(err)
	}
	msgs := batch.Messages()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
					return out, c.fetchErr(err)
				}
				return out, nil
			}
			sm, err := c.convert(m)
			if err != nil {
				return out, err
			}
			out = append(out, sm)
		case <-ctx.Done():
			// Messages already handed to us but not returned are
			// redelivered after AckWait.
			return out, fmt.Errorf("jetstream: fetching from %s/%s: %w", c.cfg.Stream, c.cfg.Durable, ctx.Err())
		}
	}
}

func (c *Consumer) fetchErr(err error) error {
	return fmt.Errorf("jetstream: fetching from %s/%s: %w", c.cfg.Stream, c.cfg.Durable, mapStreamErr(err))
}

func (c *Consumer) convert(m jetstream.Msg) (*stream.Message, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("jetstream: message metadata from %s/%s: %w", c.cfg.Stream, c.cfg.Durable, err)
	}
	ack := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
		defer cancel()
		if err := m.DoubleAck(ctx); err != nil {
			return fmt.Errorf("jetstream: acking %s #%d: %w", md.Stream, md.Sequence.Stream, err)
		}
		return nil
	}
	nak := func(d time.Duration) error {
		var err error
		if d > 0 {
			err = m.NakWithDelay(d)
		} else {
			err = m.Nak()
		}
		if err != nil {
			return fmt.Errorf("jetstream: nak %s #%d: %w", md.Stream, md.Sequence.Stream, err)
		}
		return nil
	}
	term := func() error {
		if err := m.Term(); err != nil {
			return fmt.Errorf("jetstream: term %s #%d: %w", md.Stream, md.Sequence.Stream, err)
		}
		return nil
	}
	return stream.NewMessage(md.Stream, md.Sequence.Stream, md.Timestamp, m.Data(), md.NumDelivered, ack, nak, term), nil
}

// Pending returns the consumer's messages not yet delivered plus those
// delivered but not acknowledged.
func (c *Consumer) Pending(ctx context.Context) (uint64, error) {
	if c.isClose.Load() {
		return 0, errConsumerClosed
	}
	info, err := c.c.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("jetstream: consumer info %s/%s: %w", c.cfg.Stream, c.cfg.Durable, mapStreamErr(err))
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// Close ends this member; the durable consumer and its position stay on
// the server. Messages fetched but not acknowledged are redelivered after
// AckWait.
func (c *Consumer) Close() error {
	c.isClose.Store(true)
	return nil
}
