package part

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/parquet-go/parquet-go/encoding/delta"

	"github.com/sluice-dev/sluice/internal/tsdb/enc"
)

// go test ./internal/tsdb/part -run '^$' -bench 'BenchmarkDBP' -count 5
func BenchmarkDBPDecode(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, step := range []int64{1, 15, 1000} {
		vals := make([]int64, 8192)
		x := int64(50000)
		for i := range vals {
			x += r.Int64N(2*step+1) - step
			vals[i] = x
		}
		enc8 := appendDBP(nil, vals, dbpMinis, true)
		enc8 = append(enc8, make([]byte, 8)...)[:len(enc8)]
		b.Run(fmt.Sprintf("step=%d/to=int64", step), func(b *testing.B) {
			out := make([]int64, 0, len(vals))
			b.ReportAllocs()
			b.SetBytes(int64(len(vals)))
			for b.Loop() {
				out, _, _ = decodeDBP(out[:0], enc8)
			}
		})
		b.Run(fmt.Sprintf("step=%d/to=int64/decoder=parquet-go", step), func(b *testing.B) {
			var pq delta.BinaryPackedEncoding
			out := make([]int64, 0, len(vals))
			b.ReportAllocs()
			b.SetBytes(int64(len(vals)))
			for b.Loop() {
				out, _ = pq.DecodeInt64(out[:0], enc8)
			}
		})
		b.Run(fmt.Sprintf("step=%d/to=float64/decoder=parquet-go+division", step), func(b *testing.B) {
			var pq delta.BinaryPackedEncoding
			out := make([]int64, 0, len(vals))
			fl := make([]float64, 0, len(vals))
			b.ReportAllocs()
			b.SetBytes(int64(len(vals)))
			for b.Loop() {
				out, _ = pq.DecodeInt64(out[:0], enc8)
				for _, m := range out {
					fl = append(fl, enc.FromMantissa(m, 2))
				}
				fl = fl[:0]
			}
		})
		b.Run(fmt.Sprintf("step=%d/to=float64", step), func(b *testing.B) {
			fl := make([]float64, len(vals))
			b.ReportAllocs()
			b.SetBytes(int64(len(vals)))
			for b.Loop() {
				h, rest, _ := readDBPHeader(enc8)
				fl[0] = enc.FromMantissa(h.first, 2)
				if err := decodeDBPFloats(fl[1:], h, rest, h.first, 2, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// go test ./internal/tsdb/part -run '^$' -bench 'BenchmarkDBPEncode' -count 5
func BenchmarkDBPEncode(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, step := range []int64{0, 1, 15, 1000} {
		vals := make([]int64, 8192)
		x := int64(50000)
		for i := range vals {
			if step > 0 {
				x += r.Int64N(2*step+1) - step
			}
			vals[i] = x
		}
		b.Run(fmt.Sprintf("step=%d", step), func(b *testing.B) {
			var dst []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(vals)))
			for b.Loop() {
				dst = appendDBP(dst[:0], vals, dbpMinis, true)
			}
		})
	}
}
