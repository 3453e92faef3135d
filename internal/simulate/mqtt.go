package simulate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// MQTTSink publishes each event on its device's topic over one MQTT 5
// connection. It is safe for concurrent use. With QoS 1, Send returns after
// the broker has acknowledged every event (sluice's broker acknowledges
// after the event is durable); a PUBACK with an error reason code counts as
// that event's reject.
type MQTTSink struct {
	client  *paho.Client
	pattern string
	qos     byte
	window  int // QoS 1 publishes in flight per Send

	mu     sync.Mutex
	topics map[string]string // device id → topic

	published atomic.Int64
}

// mqttWindow bounds QoS 1 publishes in flight per Send; the broker's
// Receive Maximum bounds it further.
const mqttWindow = 256

// NewMQTTSink connects to the broker at addr ("host:port", optionally with
// a tcp:// or mqtt:// prefix). topicPattern holds one %s for the device id
// (default "devices/%s/telemetry"); qos is 0 or 1. ctx bounds the connect
// only; Close ends the connection.
func NewMQTTSink(ctx context.Context, addr, topicPattern string, qos byte) (*MQTTSink, error) {
	if topicPattern == "" {
		topicPattern = "devices/%s/telemetry"
	}
	if strings.Count(topicPattern, "%s") != 1 || strings.Count(topicPattern, "%") != 1 {
		return nil, fmt.Errorf("simulate: MQTT topic pattern %q must hold exactly one %%s", topicPattern)
	}
	if qos > 1 {
		return nil, fmt.Errorf("simulate: MQTT QoS %d not supported (0 or 1)", qos)
	}
	for _, p := range []string{"tcp://", "mqtt://"} {
		addr = strings.TrimPrefix(addr, p)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simulate: connecting to MQTT broker %s: %w", addr, err)
	}
	client := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
	var idb [6]byte
	_, _ = rand.Read(idb[:]) // the id only needs to differ between concurrent simulators
	recvMax := uint16(16)    // the sink subscribes to nothing; keep paho's inbound queue small
	ca, err := client.Connect(ctx, &paho.Connect{
		ClientID:   "sluice-sim-" + hex.EncodeToString(idb[:]),
		CleanStart: true,
		KeepAlive:  30,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &recvMax},
	})
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("simulate: MQTT connect to %s: %w", addr, err)
	}
	window := mqttWindow
	if ca != nil && ca.Properties != nil && ca.Properties.ReceiveMaximum != nil {
		window = min(window, int(*ca.Properties.ReceiveMaximum))
	}
	return &MQTTSink{client: client, pattern: topicPattern, qos: qos, window: max(window, 1), topics: make(map[string]string)}, nil
}

// Published returns the number of events the broker took.
func (s *MQTTSink) Published() int64 { return s.published.Load() }

// Close disconnects from the broker.
func (s *MQTTSink) Close() error {
	err := s.client.Disconnect(&paho.Disconnect{ReasonCode: 0})
	<-s.client.Done()
	if err != nil {
		return fmt.Errorf("simulate: MQTT disconnect: %w", err)
	}
	return nil
}

// topic returns the topic of event ev from its "DeviceID".
func (s *MQTTSink) topic(ev []byte) (string, error) {
	id := deviceIDOf(ev)
	if id == nil {
		return "", errors.New(`event has no "DeviceID" string`)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[string(id)]
	if !ok {
		if bytes.ContainsAny(id, "+#/\x00") {
			return "", fmt.Errorf("device id %q cannot be an MQTT topic level", id)
		}
		t = fmt.Sprintf(s.pattern, id)
		s.topics[string(id)] = t
	}
	return t, nil
}

// deviceIDOf finds the DeviceID string value in an event as the generator
// writes it (no spaces, no escapes); nil if absent.
func deviceIDOf(ev []byte) []byte {
	const key = `"DeviceID":"`
	i := bytes.Index(ev, []byte(key))
	if i < 0 {
		return nil
	}
	rest := ev[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 {
		return nil
	}
	return rest[:j]
}

// Send publishes events, each on its device's topic.
func (s *MQTTSink) Send(ctx context.Context, events [][]byte) error {
	if s.qos == 0 {
		var rej *RejectError
		for i, ev := range events {
			err := s.publish(ctx, ev)
			var re *RecordError
			switch {
			case err == nil:
			case errors.As(err, &re):
				addRejects(&rej, 1, []RecordError{{Index: i, Reason: re.Reason}})
			default:
				return fmt.Errorf("simulate: MQTT publish of event %d: %w", i, err)
			}
		}
		if rej != nil {
			return rej
		}
		return nil
	}
	// QoS 1: keep up to window publishes in flight, each waiting for its ack.
	var (
		next     atomic.Int64
		mu       sync.Mutex
		rej      *RejectError
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(s.window, len(events)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(events) || ctx.Err() != nil {
					return
				}
				err := s.publish(ctx, events[i])
				if err == nil {
					continue
				}
				mu.Lock()
				var re *RecordError
				if errors.As(err, &re) {
					addRejects(&rej, 1, []RecordError{{Index: i, Reason: re.Reason}})
				} else if firstErr == nil {
					firstErr = fmt.Errorf("simulate: MQTT publish of event %d: %w", i, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	switch {
	case firstErr != nil:
		return firstErr
	case ctx.Err() != nil:
		return fmt.Errorf("simulate: MQTT publish: %w", ctx.Err())
	case rej != nil:
		return rej
	}
	return nil
}

func (s *MQTTSink) publish(ctx context.Context, ev []byte) error {
	topic, err := s.topic(ev)
	if err != nil {
		return &RecordError{Reason: err.Error()}
	}
	res, err := s.client.Publish(ctx, &paho.Publish{Topic: topic, QoS: s.qos, Payload: ev})
	if res != nil && res.ReasonCode >= 0x80 {
		reason := fmt.Sprintf("broker refused the event (reason code 0x%02x)", res.ReasonCode)
		if res.Properties != nil && res.Properties.ReasonString != "" {
			reason += ": " + res.Properties.ReasonString
		}
		return &RecordError{Reason: reason}
	}
	if err != nil {
		return err
	}
	s.published.Add(1)
	return nil
}

// Error lets a RecordError travel as an error inside the sinks.
func (e *RecordError) Error() string { return fmt.Sprintf("event %d: %s", e.Index, e.Reason) }

var _ Sink = (*MQTTSink)(nil)
