package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/apptest"
	"github.com/sluice-dev/sluice/internal/simulate"
	"github.com/sluice-dev/sluice/internal/stream"
)

// mqttClient is a real MQTT 5 client (paho) publishing with QoS 1.
type mqttClient struct {
	c *paho.Client
}

func dialMQTT(t *testing.T, addr, id string) *mqttClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("MQTT dial %s: %v", addr, err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	if err != nil || ca.ReasonCode != 0 {
		t.Fatalf("MQTT connect: %v (connack %+v)", err, ca)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{ReasonCode: 0}) })
	return &mqttClient{c: c}
}

// publish sends one payload with QoS 1 and returns once it is acknowledged
// (sluice acknowledges after the stream has it).
func (m *mqttClient) publish(ctx context.Context, device string, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := m.c.Publish(ctx, &paho.Publish{Topic: "devices/" + device + "/telemetry", QoS: 1, Payload: payload})
	if err != nil {
		return fmt.Errorf("publish on devices/%s/telemetry: %w", device, err)
	}
	if res != nil && res.ReasonCode >= 0x80 {
		return fmt.Errorf("publish on devices/%s/telemetry: PUBACK reason 0x%02x", device, res.ReasonCode)
	}
	return nil
}

// mqttMsg is one publish: the topic's device id and the payload.
type mqttMsg struct {
	device  string
	payload []byte
}

// publishAll publishes msgs from workers goroutines and returns the first
// error (it may run outside the test's goroutine).
func (m *mqttClient) publishAll(msgs []mqttMsg, workers int) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan mqttMsg)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range next {
				if err := m.publish(context.Background(), msg.device, msg.payload); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, msg := range msgs {
		next <- msg
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d MQTT publishes failed, first: %w", len(errs), errs[0])
	}
	return nil
}

// malformed is a valid JSON event that cannot be mapped: it must be
// accepted by ingest and become a dead letter with a reason naming the
// problem and the original payload.
type malformed struct {
	payload []byte
	reason  []string // substrings the dead letter's reason must contain
}

// skewedSend is an event whose clock runs an hour ahead, and when it was sent.
type skewedSend struct {
	ev           sentEvent
	sentAfter    int64 // ns, just before the send
	acknowledged int64 // ns, just after the answer
}

func TestEndToEnd(t *testing.T) {
	cfg := testConfig(t)
	a := apptest.Start(t, cfg)
	httpAddr, mqttAddr := a.HTTPAddr(), a.MQTTAddr()
	if httpAddr == "" || mqttAddr == "" {
		t.Fatalf("listeners: HTTP %q, MQTT %q", httpAddr, mqttAddr)
	}
	base := "http://" + httpAddr
	waitFor(t, "/readyz to answer 200", 30*time.Second, func() (bool, string) {
		status, body, err := getBody(base + "/readyz")
		return status == http.StatusOK, fmt.Sprintf("%d %q %v", status, body, err)
	})
	if status, body, err := getBody(base + "/healthz"); status != http.StatusOK {
		t.Fatalf("/healthz: %d %q %v", status, body, err)
	}
	ctx := context.Background()
	now := time.Now()

	// want holds every (DeviceID, measure, time) that must be stored, with
	// its value; skewed events are checked apart (their time is the arrival).
	want := map[seriesKey]float64{}
	var httpEvents [][]byte // NDJSON lines for the bulk HTTP phase, in order
	var mqttMsgs []mqttMsg

	// 1. Simulated fleet, 40 to 35 minutes ago, with offline periods whose
	// data arrives late in bulk, bursts and anomalies. Even devices send
	// over HTTP, odd ones over MQTT; every other MQTT event leaves DeviceID
	// out of the payload so that only the topic names the device.
	gen, err := simulate.NewGenerator(simulate.Options{
		Devices: 10, Rate: 1, Seed: 20240607, Start: now.Add(-40 * time.Minute), Duration: 5 * time.Minute,
		OfflineProb: 0.004, OfflineDuration: time.Minute, BurstProb: 0.01, AnomalyProb: 0.01,
	})
	if err != nil {
		t.Fatal(err)
	}
	var late, stripped, dupHTTP, dupMQTT, dupCross int
	perDevice := map[string]int{}
	for {
		raw, meta, ok := gen.Next(nil)
		if !ok {
			break
		}
		ev, err := parseEvent(raw)
		if err != nil {
			t.Fatal(err)
		}
		if ev.TimeNs != meta.EventTime.UnixNano() || ev.Device != meta.DeviceID {
			t.Fatalf("parsed %s as %v/%d, generator says %v/%v", raw, ev.Device, ev.TimeNs, meta.DeviceID, meta.EventTime)
		}
		if meta.Skewed {
			t.Fatalf("generator made a skewed event although SkewProb is 0: %s", raw)
		}
		if meta.Late {
			late++
		}
		expectRecords(want, ev)
		n := perDevice[ev.Device]
		perDevice[ev.Device]++
		if meta.Device%2 == 0 {
			httpEvents = append(httpEvents, raw)
			if n%10 == 3 { // sent twice over HTTP, in different requests
				httpEvents = append(httpEvents, raw)
				dupHTTP++
			}
			if n%15 == 7 { // also sent over MQTT
				mqttMsgs = append(mqttMsgs, mqttMsg{ev.Device, raw})
				dupCross++
			}
			continue
		}
		payload := raw
		if n%2 == 1 {
			payload = bytes.Replace(raw, []byte(`,"DeviceID":`+strconv.Quote(ev.Device)), nil, 1)
			if bytes.Contains(payload, []byte("DeviceID")) {
				t.Fatalf("could not strip DeviceID from %s", raw)
			}
			stripped++
		}
		mqttMsgs = append(mqttMsgs, mqttMsg{ev.Device, payload})
		if n%10 == 4 { // sent twice over MQTT
			mqttMsgs = append(mqttMsgs, mqttMsg{ev.Device, payload})
			dupMQTT++
		}
	}
	if late == 0 {
		t.Fatal("the simulated run has no late (offline) deliveries; change the seed or OfflineProb")
	}
	// Duplicates also arrive long after the original: repeat the first 50
	// HTTP events at the end.
	httpEvents = append(httpEvents, httpEvents[:50]...)
	dupHTTP += 50
	t.Logf("simulated: %d events from %d devices (%d late deliveries), %d HTTP lines, %d MQTT publishes (%d without DeviceID); duplicates: %d HTTP, %d MQTT, %d HTTP+MQTT",
		gen.Emitted(), len(perDevice), late, len(httpEvents), len(mqttMsgs), stripped, dupHTTP, dupMQTT, dupCross)

	// 2. Late bulk deliveries after an offline period: hours and more than a
	// day old, out of order with everything else, one request or one
	// burst of publishes each.
	lateBulk := func(device string, from time.Time, n int) [][]byte {
		out := make([][]byte, 0, n)
		for i := range n {
			ts := from.Add(time.Duration(i) * time.Second).Truncate(time.Microsecond).UnixNano()
			v := [4]float64{15 + float64(i%50)/10, 40 + float64(i%30)/4, 230 + float64(i%7)/10, 500 + float64(i)/100}
			raw := makeEvent(device, ts, v)
			ev, err := parseEvent(raw)
			if err != nil {
				t.Fatal(err)
			}
			expectRecords(want, ev)
			out = append(out, raw)
		}
		return out
	}
	bulkA := lateBulk("late-bulk-a", now.Add(-5*time.Hour), 300)
	bulkB := lateBulk("late-bulk-b", now.Add(-30*time.Hour), 120)
	var bulkM []mqttMsg
	for _, raw := range lateBulk("late-bulk-m", now.Add(-2*time.Hour), 60) {
		bulkM = append(bulkM, mqttMsg{"late-bulk-m", raw})
	}

	// 3. One HTTP request mixing valid events with exact fractional
	// milliseconds, valid JSON that cannot be mapped, and invalid JSON.
	fracMs := now.Add(-10 * time.Minute).UnixMilli()
	fracA := []byte(fmt.Sprintf(`{"Time":%d.499,"DeviceID":"frac-1","temperature_measure":11.2,"humidity_measure":33.4,"voltage_measure":55.6,"watt_measure":777.8}`, fracMs))
	fracB := []byte(fmt.Sprintf(`{"Time":"%d.123456","DeviceID":"frac-1","temperature_measure":"12.5","humidity_measure":33.5,"voltage_measure":55.7,"watt_measure":777.9}`, fracMs))
	want[seriesKey{"frac-1", "temperature", fracMs*1e6 + 499000}] = 11.2
	want[seriesKey{"frac-1", "humidity", fracMs*1e6 + 499000}] = 33.4
	want[seriesKey{"frac-1", "voltage", fracMs*1e6 + 499000}] = 55.6
	want[seriesKey{"frac-1", "watt", fracMs*1e6 + 499000}] = 777.8
	want[seriesKey{"frac-1", "temperature", fracMs*1e6 + 123456}] = 12.5
	want[seriesKey{"frac-1", "humidity", fracMs*1e6 + 123456}] = 33.5
	want[seriesKey{"frac-1", "voltage", fracMs*1e6 + 123456}] = 55.7
	want[seriesKey{"frac-1", "watt", fracMs*1e6 + 123456}] = 777.9
	ms := strconv.FormatInt(fracMs, 10)
	bad := []malformed{
		{[]byte(`{"Time":` + ms + `,"DeviceID":"bad-nomeasure","temperature":21.5}`), []string{"no measures"}},
		{[]byte(`{"Time":` + ms + `,"DeviceID":"bad-nested","temperature_measure":21.5,"location":{"room":"kitchen"}}`), []string{"location", "nested"}},
		{[]byte(`{"Time":"yesterday","DeviceID":"bad-time","temperature_measure":21.5}`), []string{"Time", "yesterday"}},
		{[]byte(`{"Time":` + ms + `,"DeviceID":"bad-null","temperature_measure":null,"humidity_measure":40}`), []string{"temperature_measure", "null"}},
	}
	mixed := [][]byte{
		fracA,
		bad[0].payload,
		[]byte(`{"Time":` + ms + `,"DeviceID":"invalid-1","temperature_measure":1`), // 2: unterminated
		bad[1].payload,
		[]byte(`[{"Time":` + ms + `,"DeviceID":"invalid-2","temperature_measure":1}]`), // 4: not an object
		bad[2].payload,
		[]byte(`{"Time":` + ms + `,"DeviceID":'invalid-3',"temperature_measure":1}`), // 6: single quotes
		bad[3].payload,
		fracB,
	}
	wantErrs := map[int]string{2: "invalid_json", 4: "not_object", 6: "invalid_json"}

	// Over MQTT, nothing checks JSON before the stream: invalid JSON and
	// unmappable events both become dead letters there.
	badMQTT := []struct {
		device string
		m      malformed
	}{
		{"bad-mqtt-1", malformed{[]byte(`{"Time":` + ms + `,"temperature_measure":1.5,"tags":["a","b"]}`), []string{"tags", "nested"}}},
		{"bad-mqtt-2", malformed{[]byte(`{"Time":` + ms + `,"status":"ok"}`), []string{"no measures"}}},
		{"bad-mqtt-3", malformed{[]byte(`{"Time":` + ms + `,"temperature_measure":1.5`), []string{"invalid JSON"}}},
	}

	// Send phases 1-3 concurrently over both transports.
	mq := dialMQTT(t, mqttAddr, "e2e-bulk")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := mq.publishAll(mqttMsgs, 16); err != nil {
			t.Error(err)
			return
		}
		if err := mq.publishAll(bulkM, 4); err != nil {
			t.Error(err)
			return
		}
		for _, b := range badMQTT {
			if err := mq.publish(ctx, b.device, b.m.payload); err != nil {
				t.Error(err)
			}
		}
	}()
	mustPostAll(t, httpAddr, httpEvents, 250)
	mustPostAll(t, httpAddr, bulkA, len(bulkA))
	mustPostAll(t, httpAddr, bulkB, len(bulkB))
	status, res, err := postNDJSON(ctx, httpClient, httpAddr, mixed)
	if err != nil || status != http.StatusOK {
		t.Fatalf("mixed request: status %d, %v", status, err)
	}
	if res.Accepted != len(mixed)-len(wantErrs) || res.Rejected != len(wantErrs) || len(res.Errors) != len(wantErrs) {
		t.Fatalf("mixed request answered %+v, want %d accepted and errors %v", res, len(mixed)-len(wantErrs), wantErrs)
	}
	for _, e := range res.Errors {
		if wantErrs[e.Index] != e.Reason {
			t.Errorf("mixed request: error %+v, want the errors %v", e, wantErrs)
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// 4. Clocks an hour ahead: one event per request or publish, so that
	// each has its own arrival time. One MQTT event names its device only
	// in the topic.
	var skewed []skewedSend
	sendSkewed := func(device string, i int, overMQTT, withID bool) {
		before := time.Now()
		ts := before.Add(time.Hour).Truncate(time.Microsecond).UnixNano() + int64(i)*1000 + 499000
		v := [4]float64{30 + float64(i), 60 + float64(i)/4, 231 + float64(i)/10, 900 + float64(i)}
		id := device
		if !withID {
			id = ""
		}
		raw := makeEvent(id, ts, v)
		ev, err := parseEvent(raw)
		if err != nil {
			t.Fatal(err)
		}
		ev.Device, ev.Skewed = device, true
		if overMQTT {
			if err := mq.publish(ctx, device, raw); err != nil {
				t.Fatal(err)
			}
		} else {
			mustPostAll(t, httpAddr, [][]byte{raw}, 1)
		}
		skewed = append(skewed, skewedSend{ev: ev, sentAfter: before.UnixNano(), acknowledged: time.Now().UnixNano()})
	}
	for i := range 3 {
		sendSkewed(fmt.Sprintf("skew-h%d", i), i, false, true)
		sendSkewed(fmt.Sprintf("skew-m%d", i), i, true, i != 1)
	}
	// A skewed event delivered again, over the other transport: it must
	// keep the time it was first corrected to (a no-op, not a copy).
	if err := mq.publish(ctx, skewed[0].ev.Device, skewed[0].ev.Raw); err != nil {
		t.Fatal(err)
	}
	httpAccepted := len(httpEvents) + len(bulkA) + len(bulkB) + len(mixed) - len(wantErrs) + 3
	mqttAccepted := len(mqttMsgs) + len(bulkM) + len(badMQTT) + 3 + 1

	// 5. Wait until the processor has handled everything, then check.
	var allBad []malformed
	allBad = append(allBad, bad...)
	for _, b := range badMQTT {
		allBad = append(allBad, b.m)
	}
	db := a.DB()
	var got map[seriesKey]*storedRow
	waitFor(t, "the processor to store every event, dead letter and correction", 120*time.Second, func() (bool, string) {
		var err error
		got, err = scanTelemetry(ctx, db)
		if err != nil {
			return false, err.Error()
		}
		missing := 0
		for k := range want {
			if got[k] == nil {
				missing++
			}
		}
		dl, err1 := scanSystem(ctx, db, "dead_letters")
		cc, err2 := scanSystem(ctx, db, "clock_corrections")
		state := fmt.Sprintf("%d of %d expected rows missing, %d rows in all; %d dead letters (want %d), %d corrections (want %d); errors %v %v",
			missing, len(want), len(got), len(dl), len(allBad), len(cc), len(skewed), err1, err2)
		// Every mappable delivery's records written (duplicates as no-ops).
		written := counterValue(t, a, "sluice_processor_records_total")
		wantWritten := 4 * (httpAccepted + mqttAccepted - len(allBad))
		state += fmt.Sprintf("; %v of %d records written", written, wantWritten)
		return missing == 0 && written >= float64(wantWritten) && len(got) >= len(want)+4*len(skewed) && len(dl) >= len(allBad) && len(cc) >= len(skewed), state
	})
	checkTime := time.Now().UnixNano()
	t.Logf("stored: %d telemetry rows (%d expected + %d from skewed events)", len(got), len(want), 4*len(skewed))

	// Every accepted, mappable event's measures are stored exactly once
	// with the right dimensions, values and nanosecond times.
	if problems := checkStored(got, want, 20); len(problems) > 0 {
		t.Errorf("telemetry does not match what was sent:\n%s", strings.Join(problems, "\n"))
	}

	// Skewed events are stored at their arrival time and listed in
	// sluice.clock_corrections with original and corrected time.
	corrections, err := scanSystem(ctx, db, "clock_corrections")
	if err != nil {
		t.Fatal(err)
	}
	if len(corrections) != len(skewed) {
		t.Errorf("%d clock corrections, want %d: %+v", len(corrections), len(skewed), corrections)
	}
	skewKeys := map[seriesKey]bool{}
	for _, s := range skewed {
		var c *systemRow
		for i := range corrections {
			if corrections[i].Dims["DeviceID"] == s.ev.Device && corrections[i].Time == s.ev.TimeNs {
				c = &corrections[i]
			}
		}
		if c == nil {
			t.Errorf("no clock correction for %s at %d: %s", s.ev.Device, s.ev.TimeNs, s.ev.Raw)
			continue
		}
		orig, _ := c.Fields["original_time"].(int64)
		corr, _ := c.Fields["corrected_time"].(int64)
		arr, _ := c.Fields["arrival_time"].(int64)
		// Corrected is the arrival time plus the event's index in its
		// stream message (a few ns), so that events delivered together
		// stay distinct.
		if orig != s.ev.TimeNs || arr < s.sentAfter || arr > s.acknowledged || corr < arr || corr >= arr+int64(time.Millisecond) || c.Dims["stream"] != "events" {
			t.Errorf("correction for %s: %+v; want original %d, arrival in [%d, %d], corrected just after arrival, stream events",
				s.ev.Device, c, s.ev.TimeNs, s.sentAfter, s.acknowledged)
		}
		for i, m := range measures {
			k := seriesKey{s.ev.Device, m, corr}
			skewKeys[k] = true
			r := got[k]
			switch {
			case r == nil:
				t.Errorf("skewed %s: no %s row at its arrival time %d", s.ev.Device, m, corr)
			case r.Value != s.ev.Values[i] || r.Count != 1 || r.Dims["DeviceID"] != s.ev.Device:
				t.Errorf("skewed %s: %s row %+v, want value %v once", s.ev.Device, m, r, s.ev.Values[i])
			}
			if corr > checkTime {
				t.Errorf("skewed %s: stored in the future (%d > %d)", s.ev.Device, corr, checkTime)
			}
			if got[seriesKey{s.ev.Device, m, s.ev.TimeNs}] != nil {
				t.Errorf("skewed %s: %s also stored at the device's time", s.ev.Device, m)
			}
		}
	}
	// Nothing else is stored: no row for invalid or malformed events, none
	// without DeviceID (MQTT events got the topic's id).
	for k, r := range got {
		if _, ok := want[k]; !ok && !skewKeys[k] {
			t.Errorf("unexpected row %s = %+v", k, r)
		}
	}

	// Malformed events are dead letters with a reason naming the problem
	// and the original payload, in the table and in the events-dlq stream.
	deadLetters, err := scanSystem(ctx, db, "dead_letters")
	if err != nil {
		t.Fatal(err)
	}
	if len(deadLetters) != len(allBad) {
		t.Errorf("%d dead letters, want %d:", len(deadLetters), len(allBad))
		for _, d := range deadLetters {
			t.Logf("  %+v", d)
		}
	}
	dlqPayloads := readDLQ(t, a)
	for _, b := range allBad {
		found := 0
		for _, d := range deadLetters {
			if d.Fields["payload"] != string(b.payload) {
				continue
			}
			found++
			reason, _ := d.Fields["reason"].(string)
			for _, want := range b.reason {
				if !strings.Contains(reason, want) {
					t.Errorf("dead letter for %s: reason %q does not mention %q", b.payload, reason, want)
				}
			}
			if d.Dims["stream"] != "events" || d.Dims["seq"] == "" {
				t.Errorf("dead letter for %s: dimensions %v", b.payload, d.Dims)
			}
		}
		if found != 1 {
			t.Errorf("payload %s is in sluice.dead_letters %d times, want once", b.payload, found)
		}
		if n := dlqPayloads[string(b.payload)]; n != 1 {
			t.Errorf("payload %s is in the events-dlq stream %d times, want once", b.payload, n)
		}
	}
	for _, d := range deadLetters {
		if p, _ := d.Fields["payload"].(string); strings.Contains(p, "invalid-") {
			t.Errorf("an event refused at ingest became a dead letter: %+v", d)
		}
	}

	// The raw stream keeps what the device sent: the skewed event's
	// original time is there, unchanged.
	checkRawStream(t, a, skewed[0].ev.Raw)

	// The HTTP rows endpoint agrees with the Go API.
	checkRowsEndpoint(t, httpAddr, got, []string{"late-bulk-b", "frac-1", "skew-m1", gen.DeviceIDs()[1]})

	// Metrics for ingest rate, dead letters, clock corrections and lag.
	waitFor(t, "the consumer lag gauge to read 0", 30*time.Second, func() (bool, string) {
		_, text, err := getBody(base + "/metrics")
		lag, ok := metricSum(text, "sluice_stream_consumer_lag")
		return err == nil && ok && lag == 0, fmt.Sprintf("lag %v (found %v), err %v", lag, ok, err)
	})
	_, text, err := getBody(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		name   string
		labels []string
		min    float64
		max    float64
	}{
		{"sluice_ingest_events_accepted_total", []string{`source="http"`}, float64(httpAccepted), float64(httpAccepted)},
		{"sluice_ingest_events_accepted_total", []string{`source="mqtt"`}, float64(mqttAccepted), float64(mqttAccepted)},
		{"sluice_ingest_events_rejected_total", []string{`source="http"`, `reason="invalid_json"`}, 2, 2},
		{"sluice_ingest_events_rejected_total", []string{`source="http"`, `reason="not_object"`}, 1, 1},
		{"sluice_dead_letters_total", nil, float64(len(allBad)), float64(len(allBad))},
		{"sluice_clock_corrections_total", nil, float64(len(skewed) + 1), float64(len(skewed) + 1)}, // the duplicate is corrected again
		{"sluice_stream_consumer_lag", nil, 0, 0},
		{"sluice_processor_events_total", nil, float64(httpAccepted + mqttAccepted), 1e12}, // redeliveries count again
	} {
		v, ok := metricSum(text, m.name, m.labels...)
		if !ok || v < m.min || v > m.max {
			t.Errorf("metric %s%v = %v (found %v), want in [%v, %v]", m.name, m.labels, v, ok, m.min, m.max)
		}
	}

	// Graceful shutdown.
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// readDLQ counts the original payloads of the dead letters in events-dlq.
func readDLQ(t *testing.T, a *app.App) map[string]int {
	t.Helper()
	ctx := context.Background()
	infos, err := a.Broker().Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, si := range infos {
		if si.Config.Name != "events-dlq" {
			continue
		}
		for seq := si.FirstSeq; seq <= si.LastSeq && seq > 0; seq++ {
			m, err := a.Broker().Get(ctx, "events-dlq", seq)
			if err != nil {
				t.Fatalf("events-dlq #%d: %v", seq, err)
			}
			var d struct {
				Reason  string `json:"reason"`
				Payload []byte `json:"payload"`
			}
			if err := json.Unmarshal(m.Data, &d); err != nil {
				t.Fatalf("events-dlq #%d: %v: %s", seq, err, m.Data)
			}
			if d.Reason == "" {
				t.Errorf("events-dlq #%d has no reason: %s", seq, m.Data)
			}
			out[string(d.Payload)]++
		}
	}
	return out
}

// checkRawStream finds raw in the events stream, byte for byte.
func checkRawStream(t *testing.T, a *app.App, raw []byte) {
	t.Helper()
	ctx := context.Background()
	infos, err := a.Broker().Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, si := range infos {
		if si.Config.Name != "events" {
			continue
		}
		for seq := si.LastSeq; seq >= si.FirstSeq && seq > 0; seq-- {
			m, err := a.Broker().Get(ctx, "events", seq)
			if err != nil {
				t.Fatalf("events #%d: %v", seq, err)
			}
			found := false
			if err := stream.DecodeFrame(m.Data, func(i int, r stream.Record) error {
				found = found || bytes.Equal(r.Data, raw)
				return nil
			}); err != nil {
				t.Fatalf("events #%d: %v", seq, err)
			}
			if found {
				return
			}
		}
	}
	t.Errorf("event %s is not in the events stream as sent", raw)
}

// checkRowsEndpoint reads devices through GET .../rows (all rows, and
// latest=true) and compares with the store's rows.
func checkRowsEndpoint(t *testing.T, addr string, got map[seriesKey]*storedRow, devices []string) {
	t.Helper()
	for _, dev := range devices {
		for _, m := range []string{"temperature", "watt"} {
			want := map[int64]float64{}
			var latest int64
			for k, r := range got {
				if k.Device == dev && k.Measure == m {
					want[k.Time] = r.Value
					latest = max(latest, k.Time)
				}
			}
			if len(want) == 0 {
				t.Errorf("rows endpoint check: no stored %s rows for %s", m, dev)
				continue
			}
			q := "measure=" + m + "&dim.DeviceID=" + dev + "&limit=100000"
			res, err := getRows(addr, q)
			if err != nil {
				t.Error(err)
				continue
			}
			ti, vi, di := res.col("time"), res.col("measure_value::double"), res.col("DeviceID")
			if ti < 0 || vi < 0 || di < 0 || len(res.Rows) != len(want) {
				t.Errorf("rows?%s: columns %+v, %d rows, want time, measure_value::double, DeviceID and %d rows", q, res.Columns, len(res.Rows), len(want))
				continue
			}
			for _, row := range res.Rows {
				ts, err := parseQueryTime(row[ti])
				v, _ := row[vi].(json.Number).Float64()
				if err != nil || want[ts] != v || row[di] != dev {
					t.Errorf("rows?%s: row %v (time %d, err %v) does not match the store", q, row, ts, err)
					break
				}
			}
			res, err = getRows(addr, q+"&latest=true")
			if err != nil {
				t.Error(err)
				continue
			}
			ti, vi = res.col("time"), res.col("measure_value::double")
			if len(res.Rows) != 1 || ti < 0 || vi < 0 {
				t.Errorf("rows?%s&latest=true: columns %+v, %d rows, want 1", q, res.Columns, len(res.Rows))
				continue
			}
			ts, err := parseQueryTime(res.Rows[0][ti])
			v, _ := res.Rows[0][vi].(json.Number).Float64()
			if err != nil || ts != latest || v != want[latest] {
				t.Errorf("rows?%s&latest=true: %v, want time %d value %v", q, res.Rows[0], latest, want[latest])
			}
		}
	}
}
