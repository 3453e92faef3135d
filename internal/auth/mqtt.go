package auth

import (
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// MQTTTopic maps an MQTT topic filter to the stream its publishes feed (as
// in --mqtt-topics).
type MQTTTopic struct {
	Pattern, Stream string
}

// MQTTHook returns the mochi hook that guards the MQTT door: CONNECT must
// carry a key id as username and its secret as password (CONNACK "bad user
// name or password" otherwise; without either only when AllowUnsigned);
// a publish is allowed only on a topic mapped to a stream the key may
// kinesis:PutRecord to; a subscription only if the key may
// kinesis:GetRecords on every mapped stream (publishes on mapped topics
// reach subscribers too, and nothing else can be published). Without keys
// it allows everything.
func (s *Service) MQTTHook(topics []MQTTTopic) mqtt.Hook {
	return &mqttHook{s: s, topics: append([]MQTTTopic(nil), topics...)}
}

type mqttHook struct {
	mqtt.HookBase
	s      *Service
	topics []MQTTTopic
}

func (h *mqttHook) ID() string { return "sluice-auth" }

func (h *mqttHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *mqttHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if !h.s.Enabled() {
		return true
	}
	user, pass := string(pk.Connect.Username), string(pk.Connect.Password)
	if user == "" && len(pk.Connect.Password) == 0 {
		return h.s.allowUnsigned
	}
	if _, err := h.s.CheckSecret(user, pass); err != nil {
		h.s.log.Info("auth: MQTT connection refused", "username", user, "remote", cl.Net.Remote)
		return false
	}
	return true
}

// caller returns the key a connected client authenticated with.
func (h *mqttHook) caller(cl *mqtt.Client) Principal {
	if !h.s.Enabled() {
		return h.s.anon
	}
	user := string(cl.Properties.Username)
	if user == "" {
		if h.s.allowUnsigned {
			return h.s.anon
		}
		return nil
	}
	if k := h.s.keys[user]; k != nil {
		return k
	}
	return nil
}

func (h *mqttHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	p := h.caller(cl)
	if p == nil {
		return false
	}
	if write {
		for _, t := range h.topics {
			if TopicMatches(t.Pattern, topic) {
				return p.Allow("kinesis:PutRecord", StreamARN("", t.Stream))
			}
		}
		// Only the anonymous full-access caller may use plain pub/sub.
		return p.AccessKeyID() == Anonymous
	}
	for _, t := range h.topics {
		if !p.Allow("kinesis:GetRecords", StreamARN("", t.Stream)) {
			return false
		}
	}
	return true
}

// TopicMatches reports whether an MQTT topic matches a filter: + matches
// one level, # (last) the rest.
func TopicMatches(filter, topic string) bool {
	fs, ts := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fs {
		if f == "#" {
			return i == len(fs)-1 && !strings.HasPrefix(topic, "$")
		}
		if i >= len(ts) {
			return false
		}
		if f == "+" {
			if i == 0 && strings.HasPrefix(ts[0], "$") {
				return false
			}
			continue
		}
		if f != ts[i] {
			return false
		}
	}
	return len(fs) == len(ts)
}
