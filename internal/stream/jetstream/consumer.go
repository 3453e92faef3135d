package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
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
	b        *Broker
	cfg      stream.ConsumerConfig
	c        jetstream.Consumer
	nextSubj string // pull request subject
	isClose  atomic.Bool

	// One subscription on inbox.* serves every pull request, each with its
	// own reply subject inbox.<n>: subscribing per request cost a
	// subscribe and unsubscribe round in the server and nats.go's
	// 64 Ki-message channel (512 KiB) per Fetch.
	mu    sync.Mutex // serializes pulls; guards the fields below
	inbox string
	sub   *nats.Subscription
	reqs  uint64 // pull requests sent
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
	return &Consumer{b: b, cfg: cfg, c: c,
		nextSubj: fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", cfg.Stream, cfg.Durable)}, nil
}

// Fetch returns up to max messages, waiting at most wait for the first.
//
// It sends one JetStream pull request with no_wait and expires set, which
// the server answers with the messages available now (up to max), or, if
// there are none, with the first ones to arrive within wait. (nats.go's
// Fetch would hold the request open until max messages or the whole wait;
// its FetchNoWait cannot wait.) Fetch then reads until the server ends the
// request with a status message, so no message the server handed to this
// request is left in a subscription nobody reads (where it would sit until
// AckWait). Only when ctx ends first does that happen.
func (c *Consumer) Fetch(ctx context.Context, max int, wait time.Duration) ([]*stream.Message, error) {
	if c.isClose.Load() {
		return nil, errConsumerClosed
	}
	if max <= 0 {
		return nil, nil
	}
	start := time.Now()
	out, status, err := c.pull(ctx, pullRequest{Batch: max, NoWait: true, Expires: wait}, nil)
	if err != nil || len(out) > 0 || wait <= 0 {
		return out, err
	}
	// "408 Requests Pending": other members' waiting requests already cover
	// the messages pending, so the server refuses a no_wait request at once.
	// Wait in line like them instead of returning at once (callers would
	// spin).
	if status == "408" {
		if rest := wait - time.Since(start); rest > time.Millisecond {
			out, _, err = c.pull(ctx, pullRequest{Batch: max, Expires: rest}, out)
		}
	}
	return out, err
}

// pullRequest is the body of a JetStream pull request
// ($JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>).
type pullRequest struct {
	Batch   int           `json:"batch"`
	Expires time.Duration `json:"expires,omitempty"`
	NoWait  bool          `json:"no_wait,omitempty"`
}

// pullGrace is how long past the request's expiry Fetch waits for the
// server's closing status before giving up on a lost request.
const pullGrace = 10 * time.Second

// pull runs one pull request and appends its messages to out. It returns
// the status code that ended the request ("" if the batch was filled).
//
// Messages the server sent for an earlier request after it stopped being
// read (its caller's ctx ended) are returned too, counted as this
// request's: they were handed to this member and would otherwise come back
// only after AckWait (this request's remaining ones then go to the next).
// Status messages of earlier requests are ignored.
func (c *Consumer) pull(ctx context.Context, req pullRequest, out []*stream.Message) ([]*stream.Message, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClose.Load() {
		return out, "", errConsumerClosed
	}
	nc := c.b.nc
	if c.sub == nil {
		inbox := nc.NewInbox()
		sub, err := nc.SubscribeSync(inbox + ".*")
		if err != nil {
			return out, "", c.fetchErr(err)
		}
		// The batch bounds what can arrive; dropping any as a slow consumer
		// would only delay them until AckWait.
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			sub.Unsubscribe()
			return out, "", c.fetchErr(err)
		}
		c.inbox, c.sub = inbox, sub
	}
	body, err := json.Marshal(req)
	if err != nil {
		return out, "", fmt.Errorf("jetstream: encoding pull request: %w", err)
	}
	c.reqs++
	reply := c.inbox + "." + strconv.FormatUint(c.reqs, 10)
	if err := nc.PublishRequest(c.nextSubj, reply, body); err != nil {
		return out, "", c.fetchErr(err)
	}
	rctx, cancel := context.WithTimeout(ctx, req.Expires+pullGrace)
	defer cancel()
	for got := 0; got < req.Batch; {
		m, err := c.sub.NextMsgWithContext(rctx)
		if err != nil {
			if ctx.Err() != nil {
				return out, "", fmt.Errorf("jetstream: fetching from %s/%s: %w", c.cfg.Stream, c.cfg.Durable, ctx.Err())
			}
			if errors.Is(err, context.DeadlineExceeded) {
				// The request was lost (server restart, reconnect).
				c.b.logger.Warn("pull request got no end status", "stream", c.cfg.Stream, "consumer", c.cfg.Durable)
				return out, "", nil
			}
			return out, "", c.fetchErr(err)
		}
		if code := m.Header.Get("Status"); code != "" && len(m.Data) == 0 {
			// Statuses come on the request's reply subject (messages on
			// their stream subject, so they cannot be told apart).
			if m.Subject != reply {
				continue // the end of an earlier request
			}
			switch code {
			case "100": // heartbeat or flow control
				continue
			case "404", "408": // no (more) messages; request expired
				return out, code, nil
			case "503":
				return out, code, c.fetchErr(fmt.Errorf("consumer or stream gone: %w", nats.ErrNoResponders))
			case "409":
				d := strings.ToLower(m.Header.Get("Description"))
				if strings.Contains(d, "deleted") {
					return out, code, c.fetchErr(fmt.Errorf("consumer deleted (%s)", m.Header.Get("Description")))
				}
				// Leadership change, server shutdown, max waiting
				// exceeded: end this request; the next Fetch retries.
				c.b.logger.Debug("pull request ended", "stream", c.cfg.Stream, "consumer", c.cfg.Durable, "status", code, "description", d)
				return out, code, nil
			default:
				return out, code, c.fetchErr(fmt.Errorf("status %s %s", code, m.Header.Get("Description")))
			}
		}
		sm, err := c.convert(m)
		if err != nil {
			return out, "", err
		}
		out = append(out, sm)
		got++
	}
	return out, "", nil
}

func (c *Consumer) fetchErr(err error) error {
	return fmt.Errorf("jetstream: fetching from %s/%s: %w", c.cfg.Stream, c.cfg.Durable, mapStreamErr(err))
}

func (c *Consumer) convert(m *nats.Msg) (*stream.Message, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("jetstream: message metadata from %s/%s: %w", c.cfg.Stream, c.cfg.Durable, err)
	}
	seq := md.Sequence.Stream
	// Every acknowledgement waits for the server's reply: an Ack that
	// returns nil has been applied, and a failed one is reported.
	ack := func() error {
		if err := m.AckSync(nats.AckWait(ackTimeout)); err != nil {
			return fmt.Errorf("jetstream: acking %s #%d: %w", md.Stream, seq, err)
		}
		return nil
	}
	nak := func(d time.Duration) error {
		if err := m.NakWithDelay(d, nats.AckWait(ackTimeout)); err != nil {
			return fmt.Errorf("jetstream: nak %s #%d: %w", md.Stream, seq, err)
		}
		return nil
	}
	term := func() error {
		if err := m.Term(nats.AckWait(ackTimeout)); err != nil {
			return fmt.Errorf("jetstream: term %s #%d: %w", md.Stream, seq, err)
		}
		return nil
	}
	return stream.NewMessage(md.Stream, seq, md.Timestamp, m.Data, md.NumDelivered, ack, nak, term), nil
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sub != nil {
		// Messages in flight to it are redelivered after AckWait.
		if err := c.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			return fmt.Errorf("jetstream: closing consumer %s/%s: %w", c.cfg.Stream, c.cfg.Durable, err)
		}
		c.sub = nil
	}
	return nil
}
