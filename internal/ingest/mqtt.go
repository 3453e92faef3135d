package ingest

// MQTT ingest through an embedded mochi-mqtt broker.
//
// mochi calls OnPublish hooks from the client's read loop in
// Server.processPublish, after the ACL check and before it builds and writes
// the PUBACK (QoS 1) or PUBREC (QoS 2) and before it retains or forwards
// the message (mochi-mqtt/server/v2@v2.7.9 server.go, processPublish). So
// the ingest hook blocks until the group commit holding the payload is
// durable and the acknowledgement follows durability. If publishing fails
// the hook closes the connection and returns packets.ErrRejectPacket, so no
// acknowledgement is sent and the client redelivers after reconnecting.
// Blocking the read loop also gives natural backpressure: a client cannot
// send faster than the stream takes its messages.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/sluice-dev/sluice/internal/stream"
)

// topicPattern is a compiled TopicMapping.
type topicPattern struct {
	levels   []string
	stream   string
	devLevel int // index of the first "+" level, -1 if none
}

func compileTopics(ms []TopicMapping) ([]topicPattern, error) {
	out := make([]topicPattern, 0, len(ms))
	for _, m := range ms {
		if m.Pattern == "" || m.Stream == "" {
			return nil, fmt.Errorf("ingest: topic mapping %q -> %q: pattern and stream are required", m.Pattern, m.Stream)
		}
		p := topicPattern{levels: strings.Split(m.Pattern, "/"), stream: m.Stream, devLevel: -1}
		for i, lv := range p.levels {
			switch {
			case lv == "#" && i != len(p.levels)-1:
				return nil, fmt.Errorf("ingest: topic pattern %q: # must be the last level", m.Pattern)
			case lv == "+" && p.devLevel < 0:
				p.devLevel = i
			case lv != "+" && lv != "#" && strings.ContainsAny(lv, "+#"):
				return nil, fmt.Errorf("ingest: topic pattern %q: wildcards must fill a whole level", m.Pattern)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// match reports whether topic matches p and returns the level matched by
// the first "+". It does not allocate.
func (p *topicPattern) match(topic string) (device string, ok bool) {
	if strings.HasPrefix(topic, "$") && (p.levels[0] == "+" || p.levels[0] == "#") {
		return "", false // [MQTT-4.7.2-1]: wildcards do not match $ topics
	}
	pos, n := 0, len(topic)
	for i, lv := range p.levels {
		if lv == "#" {
			return device, true
		}
		if pos > n {
			return "", false // topic has fewer levels
		}
		var level string
		if j := strings.IndexByte(topic[pos:], '/'); j >= 0 {
			level, pos = topic[pos:pos+j], pos+j+1
		} else {
			level, pos = topic[pos:], n+1
		}
		switch {
		case lv == "+":
			if i == p.devLevel {
				device = level
			}
		case lv != level:
			return "", false
		}
	}
	if pos <= n {
		return "", false // topic has more levels
	}
	return device, true
}

// matchTopic returns the stream and device id for an MQTT topic.
func (s *Service) matchTopic(topic string) (streamName, device string, ok bool) {
	for i := range s.topics {
		if dev, ok := s.topics[i].match(topic); ok {
			return s.topics[i].stream, dev, true
		}
	}
	return "", "", false
}

// publishMQTT makes one MQTT payload durable in streamName, waiting for
// queue space rather than refusing (the client's read loop waits with it).
func (s *Service) publishMQTT(streamName, device string, payload []byte) error {
	if !s.enter() {
		return ErrShuttingDown
	}
	defer s.leave()
	if int64(len(payload)) > s.opts.MaxRecordBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrRecordTooLarge, len(payload), s.opts.MaxRecordBytes)
	}
	ctx, cancel := context.WithTimeout(s.baseCtx, s.opts.PublishTimeout)
	defer cancel()
	c, err := s.committerFor(ctx, streamName)
	if err != nil {
		return err
	}
	st := getReqState()
	defer putReqState(st)
	st.enc.reset(s.opts.GroupCommitBytes)
	rec := stream.Record{Key: device, Data: payload}
	if device != "" {
		st.attrs[0] = stream.Attr{Name: "DeviceID", Value: device}
		rec.Attrs = st.attrs[:1]
	}
	st.enc.add(rec)
	chunks := st.enc.finish()
	if err := s.limit.reserve(ctx, int64(len(st.enc.buf)), s.closed.Load); err != nil {
		return err
	}
	if err := s.submit(c, chunks, st.w); err != nil {
		return err
	}
	s.m.accepted[sourceMQTT].Inc()
	s.m.bytes[sourceMQTT].Add(float64(len(payload)))
	return nil
}

// allowAll lets every client connect and use every topic; it is the
// default until an auth hook is configured (Options.MQTTAuth). mochi's own
// auth.AllowHook is not used because its package needs a module sluice does
// not require.
type allowAll struct{ mqtt.HookBase }

func (h *allowAll) ID() string { return "sluice-allow-all" }

func (h *allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// ingestHook sends publishes on mapped topics to the stream.
type ingestHook struct {
	mqtt.HookBase
	s      *Service
	server *mqtt.Server
}

func (h *ingestHook) ID() string { return "sluice-ingest" }

func (h *ingestHook) Provides(b byte) bool { return b == mqtt.OnPublish }

func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	name, device, ok := h.s.matchTopic(pk.TopicName)
	if !ok {
		return pk, nil // not ours: ordinary MQTT pub/sub
	}
	err := h.s.publishMQTT(name, device, pk.Payload)
	if err == nil {
		// The stream keeps the message; do not also keep it in broker memory.
		pk.FixedHeader.Retain = false
		return pk, nil
	}
	v5 := cl.Properties.ProtocolVersion == 5
	if errors.Is(err, ErrRecordTooLarge) {
		h.s.m.rejected[sourceMQTT][reasonTooLarge].Inc()
		h.s.log.Warn("ingest: MQTT payload refused", "client", cl.ID, "topic", pk.TopicName, "err", err)
		if v5 && pk.FixedHeader.Qos > 0 {
			return pk, packets.ErrPacketTooLarge // PUBACK with a failure code: redelivery would not help
		}
		return pk, packets.ErrRejectPacket
	}
	// Not durable: withhold the acknowledgement and drop the connection so
	// the client redelivers once it reconnects.
	h.s.m.requestErrors.WithLabelValues("mqtt").Inc()
	h.s.log.Warn("ingest: MQTT publish failed; disconnecting client so it redelivers",
		"client", cl.ID, "topic", pk.TopicName, "err", err)
	if v5 {
		_ = h.server.DisconnectClient(cl, packets.ErrServerUnavailable)
	} else {
		cl.Stop(packets.ErrServerUnavailable)
	}
	return pk, packets.ErrRejectPacket
}

// mqttFront is a running MQTT listener.
type mqttFront struct {
	server *mqtt.Server
	ln     *mqttListener
}

func (f *mqttFront) close() error {
	err := f.server.Close() // closes the listener and disconnects every client
	<-f.ln.served
	return err
}

// mqttCapabilities bounds what mochi keeps in memory per client: mapped
// topics are not retained (see OnPublish) and everything else is capped.
func (s *Service) mqttCapabilities() *mqtt.Capabilities {
	c := mqtt.NewDefaultServerCapabilities()
	c.MaximumPacketSize = uint32(min(s.opts.MaxRecordBytes+64<<10, 256<<20)) // payload + topic and properties
	c.MaximumMessageExpiryInterval = 60 * 60                                 // 1 h for queued and retained messages
	c.MaximumSessionExpiryInterval = 60 * 60                                 // 1 h for disconnected sessions
	c.MaximumInflight = 1024                                                 // QoS>0 messages held per client
	c.MaximumClientWritesPending = 1024                                      // outbound queue per client
	return c
}

// StartMQTT starts the embedded MQTT broker listening on addr (TCP, TLS if
// tlsConfig is set); "" leaves MQTT off. ctx bounds only the start; the
// broker runs until Shutdown. Publishes on topics matching Options.Topics
// are made durable in the stream before they are acknowledged; other topics
// are plain MQTT pub/sub.
func (s *Service) StartMQTT(ctx context.Context, addr string, tlsConfig *tls.Config) error {
	if addr == "" {
		return nil
	}
	s.mqttMu.Lock()
	defer s.mqttMu.Unlock()
	if s.mqtt != nil {
		return errors.New("ingest: MQTT already started")
	}
	if s.closed.Load() {
		return ErrShuttingDown
	}
	var lc net.ListenConfig
	nl, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("ingest: MQTT listen on %s: %w", addr, err)
	}
	if tlsConfig != nil {
		nl = tls.NewListener(nl, tlsConfig)
	}
	srv := mqtt.New(&mqtt.Options{
		Capabilities: s.mqttCapabilities(),
		Logger:       s.log.With("component", "mqtt"),
	})
	authHook := s.opts.MQTTAuth
	if authHook == nil {
		authHook = new(allowAll)
	}
	ln := &mqttListener{s: s, ln: nl, id: "sluice-mqtt", served: make(chan struct{})}
	for _, step := range []func() error{
		func() error { return srv.AddHook(authHook, nil) },
		func() error { return srv.AddHook(&ingestHook{s: s, server: srv}, nil) },
		func() error { return srv.AddListener(ln) },
		srv.Serve,
	} {
		if err := step(); err != nil {
			_ = nl.Close()
			_ = srv.Close()
			return fmt.Errorf("ingest: starting MQTT: %w", err)
		}
	}
	s.mqtt = &mqttFront{server: srv, ln: ln}
	s.log.Info("ingest: MQTT listening", "addr", nl.Addr().String(), "tls", tlsConfig != nil)
	return nil
}

// MQTTAddr returns the MQTT listener's address, or "" if MQTT is off.
func (s *Service) MQTTAddr() string {
	s.mqttMu.Lock()
	defer s.mqttMu.Unlock()
	if s.mqtt == nil {
		return ""
	}
	return s.mqtt.ln.Address()
}

// mqttListener is a mochi listener over a net.Listener whose connection
// goroutines are started through Service.goroutine, so Shutdown waits for
// them (mochi's own TCP listener does not track them).
type mqttListener struct {
	s      *Service
	ln     net.Listener
	id     string
	once   sync.Once
	served chan struct{} // closed when Serve returns
}

func (l *mqttListener) Init(*slog.Logger) error { return nil }
func (l *mqttListener) ID() string              { return l.id }
func (l *mqttListener) Address() string         { return l.ln.Addr().String() }
func (l *mqttListener) Protocol() string        { return "tcp" }

func (l *mqttListener) Serve(establish listeners.EstablishFn) {
	defer close(l.served)
	var backoff time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, do not spin or quit.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.s.log.Warn("ingest: MQTT accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if l.s.closed.Load() || !l.s.goroutine("mqtt/conn", func() {
			if err := establish(l.id, conn); err != nil {
				l.s.log.Debug("ingest: MQTT connection ended", "remote", conn.RemoteAddr().String(), "err", err)
			}
		}) {
			_ = conn.Close()
		}
	}
}

func (l *mqttListener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
		_ = l.ln.Close()
		closeClients(l.id)
	})
}
