package pgwire

import "github.com/prometheus/client_golang/prometheus"

// Query outcomes, the label values of sluice_pgwire_queries_total.
const (
	outcomeOK       = "ok"
	outcomeError    = "error"
	outcomeCanceled = "canceled"
)

// metrics are the server's Prometheus metrics; label values are resolved
// once so that counting does not allocate.
type metrics struct {
	connections  prometheus.Gauge
	rejected     prometheus.Counter
	queries      map[string]prometheus.Counter
	duration     prometheus.Histogram
	authFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_pgwire_queries_total",
		Help: "Statements run over the PostgreSQL wire protocol, by outcome (ok, error, canceled).",
	}, []string{"outcome"})
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_pgwire_connections",
			Help: "Open PostgreSQL wire protocol sessions (authenticated).",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_pgwire_connections_rejected_total",
			Help: "Connections refused because MaxConns sessions were open.",
		}),
		queries: map[string]prometheus.Counter{},
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_pgwire_query_duration_seconds",
			Help:    "Time from the start of a statement until its last row was sent.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 14),
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_pgwire_auth_failures_total",
			Help: "Failed password authentications.",
		}),
	}
	for _, o := range []string{outcomeOK, outcomeError, outcomeCanceled} {
		m.queries[o] = queries.WithLabelValues(o)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connections, m.rejected, queries, m.duration, m.authFailures} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
