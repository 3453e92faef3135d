package lake

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events, errorEvents, messages, skipped, flushErrors prometheus.Counter
	files, bytes                                        *prometheus.CounterVec
	flushSeconds                                        prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, streamName string, w *Writer) *metrics {
	l := prometheus.Labels{"stream": streamName}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: l})
	}
	flush := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_lake_flush_seconds", Help: "Time to write the buffer's objects durably and acknowledge its messages.",
		ConstLabels: l, Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	m := &metrics{
		events:       c("sluice_lake_events_total", "Events delivered to lake objects as they are."),
		errorEvents:  c("sluice_lake_error_events_total", "Events delivered to the error output (not a single-line JSON object)."),
		messages:     c("sluice_lake_messages_total", "Stream messages acknowledged after their events were durable in the lake."),
		skipped:      c("sluice_lake_redelivered_skipped_total", "Redelivered stream messages acknowledged without writing (their events were already in lake objects)."),
		flushErrors:  c("sluice_lake_flush_errors_total", "Failed attempts to write lake objects (the buffer is kept and retried)."),
		files:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_lake_files_total", Help: "Lake objects written, by output (events, errors).", ConstLabels: l}, []string{"output"}),
		bytes:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_lake_bytes_total", Help: "Bytes of lake objects written, by output (events, errors).", ConstLabels: l}, []string{"output"}),
		flushSeconds: flush,
	}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_lake_buffer_age_seconds", Help: "Age of the oldest buffered message (0 when the buffer is empty).", ConstLabels: l},
		func() float64 {
			if t := w.bufStart.Load(); t != 0 {
				return time.Since(time.Unix(0, t)).Seconds()
			}
			return 0
		})
	if reg != nil {
		reg.MustRegister(m.events, m.errorEvents, m.messages, m.skipped, m.flushErrors, m.files, m.bytes, flush, age)
	}
	return m
}
