// Package stream defines the durable, replayable log of raw device events
// that sits between ingest and every consumer (processor, lake writer, the
// Kinesis API), and the frame format of the messages kept in it.
//
// Contract: Publish returns only after the message is durable (fsynced by the
// store, or replicated by a cluster); a consumer acknowledges a message only
// after what it derived from it is durable, so a crash at any point leads to
// redelivery, never to loss. Messages are never modified: consumers see the
// bytes the device sent.
//
// The implementation is in stream/jetstream (NATS JetStream, embedded or
// external).
package stream

import (
	"context"
	"errors"
	"time"
)

// Default names (DESIGN.md §3).
const (
	DefaultStream     = "events"
	DefaultDeadLetter = "events-dlq"
)

// ErrBackpressure is returned by Publish when the stream cannot take more
// data now (limits reached, too many publishes in flight). Callers answer
// 429/503 with Retry-After; nothing is dropped silently.
var ErrBackpressure = errors.New("stream: backpressure, retry later")

// ErrTooLarge is returned by Publish for a message larger than the stream
// accepts. Retrying cannot help; HTTP callers answer 413.
var ErrTooLarge = errors.New("stream: message too large")

// ErrNoStream is returned for operations on a stream that does not exist.
var ErrNoStream = errors.New("stream: no such stream")

// Config describes one stream.
type Config struct {
	Name      string
	Retention time.Duration // messages older than this are removed; 0 = default (24 h)
	MaxBytes  int64         // 0 = unlimited
	Replicas  int           // 0 = 1 (a cluster may use 3)
}

// PubAck reports where a published message was stored.
type PubAck struct {
	Stream string
	Seq    uint64
}

// Message is one stream message handed to a consumer.
type Message struct {
	Stream    string
	Seq       uint64    // stream sequence, unique and increasing within the stream
	Time      time.Time // when the stream stored it (the arrival time)
	Data      []byte
	Delivered uint64 // 1 on first delivery

	ack  func() error
	nak  func(delay time.Duration) error
	term func() error
}

// NewMessage builds a Message with its acknowledgement callbacks; used by
// implementations of Consumer.
func NewMessage(streamName string, seq uint64, t time.Time, data []byte, delivered uint64,
	ack func() error, nak func(time.Duration) error, term func() error) *Message {
	return &Message{Stream: streamName, Seq: seq, Time: t, Data: data, Delivered: delivered, ack: ack, nak: nak, term: term}
}

// Ack tells the stream that the message is fully handled.
func (m *Message) Ack() error { return m.ack() }

// Nak asks for redelivery after delay.
func (m *Message) Nak(delay time.Duration) error { return m.nak(delay) }

// Term stops redelivery of a message that can never be handled (after it has
// been dead-lettered).
func (m *Message) Term() error { return m.term() }

// ConsumerConfig describes a durable consumer shared by all its members.
type ConsumerConfig struct {
	Stream     string
	Durable    string        // name shared by every process that consumes as this consumer
	AckWait    time.Duration // redelivery after this long without an ack; 0 = 30 s
	MaxPending int           // unacknowledged messages in flight; 0 = 10000
}

// Consumer pulls messages of one durable consumer.
type Consumer interface {
	// Fetch returns up to max messages, waiting at most wait for the first.
	// It returns an empty slice and no error when nothing arrived in time.
	Fetch(ctx context.Context, max int, wait time.Duration) ([]*Message, error)
	// Pending reports how many messages the consumer has not yet been
	// delivered or not yet acknowledged (its lag).
	Pending(ctx context.Context) (uint64, error)
	Close() error
}

// Broker is the stream service: streams, publishing and consumers.
type Broker interface {
	EnsureStream(ctx context.Context, cfg Config) error
	DeleteStream(ctx context.Context, name string) error
	Streams(ctx context.Context) ([]StreamInfo, error)
	Publish(ctx context.Context, streamName string, data []byte) (PubAck, error)
	Consumer(ctx context.Context, cfg ConsumerConfig) (Consumer, error)
	// Get reads a message by sequence without a consumer (for the Kinesis
	// API's GetRecords and for tests). It returns ErrNoMessage past the end.
	Get(ctx context.Context, streamName string, seq uint64) (*Message, error)
	Close() error
}

// ErrNoMessage is returned by Get when no message has that sequence (it was
// removed by retention or is not written yet).
var ErrNoMessage = errors.New("stream: no message with that sequence")

// StreamInfo describes a stream's state.
type StreamInfo struct {
	Config   Config
	Msgs     uint64
	Bytes    uint64
	FirstSeq uint64
	LastSeq  uint64
	Created  time.Time
}
