package ingest

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	sourceHTTP    = "http"
	sourceMQTT    = "mqtt"
	sourcePublish = "api" // Service.Publish callers (the Kinesis API)
)

// metrics are the service's Prometheus metrics. Label values used on hot
// paths are resolved once here so that counting does not allocate.
type metrics struct {
	accepted       map[string]prometheus.Counter            // by source
	bytes          map[string]prometheus.Counter            // by source
	rejected       map[string]map[string]prometheus.Counter // by source, reason
	requestErrors  *prometheus.CounterVec                   // by status
	commitEvents   prometheus.Histogram
	commitBytes    prometheus.Histogram
	publishSeconds prometheus.Histogram
	publishErrors  prometheus.Counter
	queueBytes     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	accepted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_ingest_events_accepted_total",
		Help: "Events made durable in the stream, by source.",
	}, []string{"source"})
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_ingest_events_rejected_total",
		Help: "Events refused with a per-record error, by source and reason.",
	}, []string{"source", "reason"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_ingest_event_bytes_total",
		Help: "Bytes of accepted events (payloads as sent), by source.",
	}, []string{"source"})
	m := &metrics{
		accepted: map[string]prometheus.Counter{},
		bytes:    map[string]prometheus.Counter{},
		rejected: map[string]map[string]prometheus.Counter{},
		requestErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_ingest_request_errors_total",
			Help: "HTTP ingest requests answered with an error status (and MQTT publishes refused, status=mqtt).",
		}, []string{"status"}),
		commitEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_ingest_commit_events",
			Help:    "Events per group-committed stream message.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		commitBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_ingest_commit_bytes",
			Help:    "Bytes per group-committed stream message.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 9),
		}),
		publishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_ingest_publish_seconds",
			Help:    "Latency of one stream publish (until durable).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_ingest_publish_errors_total",
			Help: "Stream publishes that failed; their senders were told to retry.",
		}),
		queueBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_ingest_queue_bytes",
			Help: "Bytes accepted from senders and not yet durable in the stream.",
		}),
	}
	for _, src := range []string{sourceHTTP, sourceMQTT, sourcePublish} {
		m.accepted[src] = accepted.WithLabelValues(src)
		m.bytes[src] = bytes.WithLabelValues(src)
		m.rejected[src] = map[string]prometheus.Counter{}
		for _, r := range allReasons {
			m.rejected[src][r] = rejected.WithLabelValues(src, r)
		}
	}
	for _, c := range []prometheus.Collector{accepted, rejected, bytes, m.requestErrors,
		m.commitEvents, m.commitBytes, m.publishSeconds, m.publishErrors, m.queueBytes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) requestError(status int) {
	m.requestErrors.WithLabelValues(strconv.Itoa(status)).Inc()
}
