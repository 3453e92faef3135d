package pgwire

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// go test -run XXX -bench BenchmarkDataRows -count 10 ./internal/pgwire | tee new.txt; benchstat old.txt new.txt
func BenchmarkDataRows(b *testing.B) {
	r := &seriesRows{cols: []Column{{"i", TypeInt64}, {"t", TypeTimestamp}, {"v", TypeFloat64}, {"s", TypeText}}, total: 1000}
	batch, _ := r.Next(context.Background())
	for _, format := range []struct {
		name string
		code int16
	}{{"text", 0}, {"binary", 1}} {
		b.Run("format="+format.name, func(b *testing.B) {
			c := &conn{enc: encoder{loc: time.UTC, floatDigits: 1}}
			formats := []int16{format.code, format.code, format.code, format.code}
			b.ReportAllocs()
			for b.Loop() {
				c.wbuf = c.wbuf[:0]
				for i := range batch.Len() {
					c.appendDataRow(batch, i, r.cols, formats)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch.Len()), "ns/row")
		})
	}
}

// BenchmarkAppendText measures one value's text encoding by type.
func BenchmarkAppendText(b *testing.B) {
	e := encoder{loc: time.UTC, floatDigits: 1}
	cases := []struct {
		name string
		t    Type
		c    *columnar.Column
	}{
		{"float8", TypeFloat64, &columnar.Column{Type: columnar.Float64, Floats: []float64{1234.5678}}},
		{"timestamp", TypeTimestamp, &columnar.Column{Type: columnar.Timestamp, Ints: []int64{TypesTS.UnixNano()}}},
		{"timestamptz", TypeTimestampTZ, &columnar.Column{Type: columnar.Timestamp, Ints: []int64{TypesTS.UnixNano()}}},
		{"int8", TypeInt64, &columnar.Column{Type: columnar.Int64, Ints: []int64{-1234567890}}},
	}
	for _, tc := range cases {
		b.Run("type="+tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 64)
			b.ReportAllocs()
			for b.Loop() {
				buf = e.appendText(buf[:0], tc.t, tc.c, 0)
			}
		})
	}
}
