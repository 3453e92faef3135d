package ingest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// mqttClient connects a real MQTT v5 client (paho) to addr.
func mqttClient(t testing.TB, addr, id string, onMsg func(paho.PublishReceived) (bool, error)) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial MQTT: %v", err)
	}
	cfg := paho.ClientConfig{Conn: conn, ClientID: id}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onMsg}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("MQTT connect: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
		}
	})
	return c
}

// TestMQTTQoS1 publishes with QoS 1 through a real client: once PUBACK
// arrives the payload is in the stream, unchanged, with the device id from
// the topic; unmapped topics are ordinary pub/sub and not stored; mapped
// retained messages are not kept by the broker.
func TestMQTTQoS1(t *testing.T) {
	broker := openJetStream(t, "events", "alerts")
	s := newService(t, broker, Options{Topics: []TopicMapping{
		{Pattern: "devices/+/telemetry", Stream: "events"},
		{Pattern: "sites/+/alerts/#", Stream: "alerts"},
	}})
	if err := s.StartMQTT(context.Background(), "127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	addr := s.MQTTAddr()
	if _, port, _ := net.SplitHostPort(addr); port == "0" || port == "" {
		t.Fatalf("MQTTAddr = %q, want the bound port", addr)
	}

	got := make(chan string, 10)
	sub := mqttClient(t, addr, "watcher", func(p paho.PublishReceived) (bool, error) {
		got <- p.Packet.Topic + " " + string(p.Packet.Payload)
		return true, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	dev := mqttClient(t, addr, "dev-42", nil)
	payload := `{"temperature_measure": 21.5, "time": 1609757175225}`
	if _, err := dev.Publish(ctx, &paho.Publish{Topic: "devices/dev-42/telemetry", QoS: 1, Retain: true, Payload: []byte(payload)}); err != nil {
		t.Fatalf("QoS 1 publish: %v", err)
	}
	// PUBACK received: the stream must already have it.
	recs, _ := readStream(t, broker, "events")
	if len(recs) != 1 {
		t.Fatalf("stream has %d records after PUBACK, want 1", len(recs))
	}
	r := recs[0]
	if string(r.Data) != payload || r.Key != "dev-42" || len(r.Attrs) != 1 || r.Attrs[0].Name != "DeviceID" || r.Attrs[0].Value != "dev-42" {
		t.Fatalf("stored record %+v (data %q)", r, r.Data)
	}
	// Not JSON: stored as sent (the processor dead-letters it).
	if _, err := dev.Publish(ctx, &paho.Publish{Topic: "sites/s1/alerts/fire/x", QoS: 1, Payload: []byte("\x00not json")}); err != nil {
		t.Fatal(err)
	}
	if recs, _ := readStream(t, broker, "alerts"); len(recs) != 1 || string(recs[0].Data) != "\x00not json" || recs[0].Key != "s1" {
		t.Fatalf("alerts stream: %+v", recs)
	}
	if _, err := dev.Publish(ctx, &paho.Publish{Topic: "chat/room", QoS: 1, Payload: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"devices/dev-42/telemetry " + payload: true, "sites/s1/alerts/fire/x \x00not json": true, "chat/room hello": true}
	for len(want) > 0 {
		select {
		case m := <-got:
			if !want[m] {
				t.Fatalf("subscriber got unexpected %q", m)
			}
			delete(want, m)
		case <-ctx.Done():
			t.Fatalf("subscriber did not get %v", want)
		}
	}
	if recs, _ := readStream(t, broker, "events"); len(recs) != 1 {
		t.Fatalf("unmapped topic reached the stream: %d records", len(recs))
	}
	s.mqttMu.Lock()
	_, retained := s.mqtt.server.Topics.Retained.Get("devices/dev-42/telemetry")
	s.mqttMu.Unlock()
	if retained {
		t.Fatal("broker retains a message of a mapped topic")
	}
}

// TestMQTTPublishFailure: when the stream fails the client gets no PUBACK
// and is disconnected, so it will redeliver.
func TestMQTTPublishFailure(t *testing.T) {
	js := openJetStream(t, "events")
	broker := &slowBroker{Broker: js}
	broker.setFail(errors.New("disk on fire"))
	s := newService(t, broker, Options{})
	if err := s.StartMQTT(context.Background(), "127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	dev := mqttClient(t, s.MQTTAddr(), "dev-1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	published := make(chan error, 1)
	go func() {
		_, err := dev.Publish(ctx, &paho.Publish{Topic: "devices/dev-1/telemetry", QoS: 1, Payload: []byte(`{"a":1}`)})
		published <- err
	}()
	select {
	case <-dev.Done():
	case <-ctx.Done():
		t.Fatal("client not disconnected after a failed publish")
	}
	cancel() // paho keeps the unacknowledged publish for redelivery; stop waiting
	if err := <-published; err == nil {
		t.Fatal("publish acknowledged although the stream failed")
	}
	if recs, _ := readStream(t, js, "events"); len(recs) != 0 {
		t.Fatalf("stream has %d records", len(recs))
	}
}

// TestMQTTShutdown: Shutdown closes the MQTT listener and connections.
func TestMQTTShutdown(t *testing.T) {
	broker := openJetStream(t, "events")
	s, err := New(broker, Options{}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.MQTTAddr() != "" {
		t.Fatal("MQTTAddr before start")
	}
	if err := s.StartMQTT(context.Background(), "", nil); err != nil || s.MQTTAddr() != "" {
		t.Fatalf("empty addr: %v %q", err, s.MQTTAddr())
	}
	if err := s.StartMQTT(context.Background(), "127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	addr := s.MQTTAddr()
	dev := mqttClient(t, addr, "dev-1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := dev.Publish(ctx, &paho.Publish{Topic: "devices/dev-1/telemetry", QoS: 1, Payload: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dev.Done():
	case <-ctx.Done():
		t.Fatal("client still connected after Shutdown")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("MQTT port still accepts connections after Shutdown")
	}
}

// TestMQTTWaitsForQueueSpace: with the queue full, an MQTT publish waits
// (no PUBACK yet, not refused) and completes once the stream drains.
func TestMQTTWaitsForQueueSpace(t *testing.T) {
	js := openJetStream(t, "events")
	broker := &slowBroker{Broker: js, gate: make(chan struct{})}
	s := newService(t, broker, Options{QueueBytes: 100})
	if err := s.StartMQTT(context.Background(), "127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	payload := []byte(`{"pad":"` + strings.Repeat("x", 150) + `"}`)
	done := make(chan error, 2)
	for _, id := range []string{"d1", "d2"} {
		c := mqttClient(t, s.MQTTAddr(), id, nil)
		go func() {
			_, err := c.Publish(ctx, &paho.Publish{Topic: "devices/" + id + "/telemetry", QoS: 1, Payload: payload})
			done <- err
		}()
		if id == "d1" {
			waitFor(t, func() bool { return broker.waiting.Load() == 1 })
		}
	}
	select {
	case err := <-done:
		t.Fatalf("a publish finished (%v) while the stream was held", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(broker.gate)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	if recs, _ := readStream(t, js, "events"); len(recs) != 2 {
		t.Fatalf("stream has %d records, want 2", len(recs))
	}
}
