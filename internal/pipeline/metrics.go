package pipeline

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	events, records, messages              prometheus.Counter
	deadLetters, corrections, storeRejects prometheus.Counter
	batchRecords, flushSeconds             prometheus.Observer
	lag                                    prometheus.Gauge
	anomalies                              *prometheus.CounterVec // by measure
}

func newMetrics(reg prometheus.Registerer, consumer string) *metrics {
	l := prometheus.Labels{"consumer": consumer}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: l})
	}
	batch := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_processor_batch_records", Help: "Records per tsdb write.", ConstLabels: l, Buckets: prometheus.ExponentialBuckets(1, 4, 10)})
	flush := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_processor_flush_seconds", Help: "Time to write a batch and acknowledge its messages.", ConstLabels: l, Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	m := &metrics{
		events:       c("sluice_processor_events_total", "Device events decoded."),
		records:      c("sluice_processor_records_total", "Records written to the tsdb."),
		messages:     c("sluice_processor_messages_total", "Stream messages acknowledged."),
		deadLetters:  c("sluice_dead_letters_total", "Events that could not be mapped or stored, sent to the dead-letter stream."),
		corrections:  c("sluice_clock_corrections_total", "Events whose future time was replaced by the arrival time."),
		storeRejects: c("sluice_processor_store_rejects_total", "Records the tsdb rejected (kept as dead letters)."),
		batchRecords: batch,
		flushSeconds: flush,
		lag:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_stream_consumer_lag", Help: "Messages not yet acknowledged by the consumer.", ConstLabels: l}),
		anomalies:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_anomalies_total", Help: "Points the streaming anomaly detector flagged, by measure (a redelivered batch may count its points again).", ConstLabels: l}, []string{"measure"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.records, m.messages, m.deadLetters, m.corrections, m.storeRejects, batch, flush, m.lag, m.anomalies)
	}
	return m
}
