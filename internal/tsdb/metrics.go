package tsdb

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	pointsWritten    prometheus.Counter
	rejects          *prometheus.CounterVec
	flushes          prometheus.Counter
	flushErrors      prometheus.Counter
	flushDuration    prometheus.Histogram
	compactions      prometheus.Counter
	compactionErrors prometheus.Counter
	retentionDrops   prometheus.Counter
}

func newMetrics(db *DB, reg prometheus.Registerer) *metrics {
	m := &metrics{
		pointsWritten:    prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_tsdb_points_written_total", Help: "Points stored (inserted or updated) by writes."}),
		rejects:          prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_tsdb_rejected_records_total", Help: "Records rejected by writes, by reason."}, []string{"reason"}),
		flushes:          prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_tsdb_flushes_total", Help: "Flushes of the hot tier to part files."}),
		flushErrors:      prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_tsdb_flush_errors_total", Help: "Flushes that failed."}),
		flushDuration:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_tsdb_flush_duration_seconds", Help: "Time to flush the hot tier.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
		compactions:      prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_tsdb_compactions_total", Help: "Partition compactions."}),
		compactionErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_tsdb_compaction_errors_total", Help: "Compactions that failed."}),
		retentionDrops:   prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_tsdb_retention_dropped_partitions_total", Help: "Partitions deleted by retention."}),
	}
	for _, reason := range []string{rejectInvalid, rejectTime, rejectVersion, rejectType} {
		m.rejects.WithLabelValues(reason)
	}
	if reg == nil {
		return m
	}
	stat := func(f func(s *Stats) float64) func() float64 {
		return func() float64 { s := db.Stats(); return f(&s) }
	}
	reg.MustRegister(m.pointsWritten, m.rejects, m.flushes, m.flushErrors, m.flushDuration, m.compactions, m.compactionErrors, m.retentionDrops,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_tsdb_series", Help: "Series known to the store."}, stat(func(s *Stats) float64 { return float64(s.Series) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_tsdb_head_points", Help: "Points in the hot tier."}, stat(func(s *Stats) float64 { return float64(s.HeadPoints) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_tsdb_wal_bytes", Help: "Bytes in write-ahead log segments."}, stat(func(s *Stats) float64 { return float64(s.WALBytes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_tsdb_parts", Help: "Live part files."}, stat(func(s *Stats) float64 { return float64(s.Parts) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_tsdb_part_bytes", Help: "Bytes in live part files."}, stat(func(s *Stats) float64 { return float64(s.PartBytes) })),
	)
	return m
}

// Stats is a summary of the store's state.
type Stats struct {
	Tables     int
	Series     int
	HeadPoints int
	Parts      int
	PartRows   int64
	PartBytes  int64
	WALBytes   int64
}

// Stats reports the store's current state.
func (db *DB) Stats() Stats {
	var s Stats
	for _, t := range db.sortedTables() {
		s.Tables++
		t.mu.RLock()
		s.Series += t.nseries
		s.HeadPoints += t.active.points
		if t.flushing != nil {
			s.HeadPoints += t.flushing.points
		}
		for _, ps := range t.partitions {
			for _, p := range ps {
				s.Parts++
				s.PartRows += p.entry.Rows
				s.PartBytes += p.entry.Bytes
			}
		}
		t.mu.RUnlock()
	}
	if db.wal != nil {
		s.WALBytes = db.wal.Size()
	}
	return s
}
