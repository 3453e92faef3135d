package part

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go/encoding/delta"
	encpkg "github.com/sluice-dev/sluice/internal/tsdb/enc"
)

func dbpCases() map[string][]int64 {
	rng := rand.New(rand.NewPCG(3, 4))
	seq := func(n int, f func(i int) int64) []int64 {
		v := make([]int64, n)
		for i := range v {
			v[i] = f(i)
		}
		return v
	}
	walk := func(n int, step int64) []int64 {
		x := int64(rng.IntN(100000))
		return seq(n, func(int) int64 { x += rng.Int64N(2*step+1) - step; return x })
	}
	return map[string][]int64{
		"empty":          {},
		"one":            {42},
		"two":            {math.MinInt64, math.MaxInt64},
		"regular_times":  seq(3600, func(i int) int64 { return 1_700_000_000_123_456_000 + int64(i)*1e9 }),
		"constant":       seq(4096, func(int) int64 { return 7 }),
		"walk_small":     walk(3601, 1),
		"walk_wide":      walk(4000, 1000),
		"block_edge_129": walk(129, 50),
		"block_edge_128": walk(128, 50),
		"block_edge_161": walk(161, 50),
		"extremes": seq(300, func(i int) int64 {
			if i%2 == 0 {
				return math.MinInt64
			}
			return math.MaxInt64
		}),
		"random": seq(1000, func(int) int64 { return int64(rng.Uint64()) }),
		"series_jumps": seq(4000, func(i int) int64 {
			return int64(i/137)*-68e9 + int64(i)*1e9 + int64(i/137)*12345
		}),
	}
}

func TestDBPRoundTrip(t *testing.T) {
	var pq delta.BinaryPackedEncoding
	for name, vals := range dbpCases() {
		for _, c := range []struct {
			minis  int
			nibble bool
		}{{dbpMinis, false}, {dbpMinis, true}, {dbpTimeMinis, false}} {
			minis := c.minis
			t.Run(fmt.Sprintf("case=%s/minis=%d/nibble=%v", name, minis, c.nibble), func(t *testing.T) {
				enc := appendDBP(nil, vals, minis, c.nibble)
				// parquet-go reads what we write.
				got, err := pq.DecodeInt64(nil, enc)
				if err != nil {
					t.Fatalf("parquet-go decode: %v", err)
				}
				if !slices.Equal(got, vals) && len(vals) > 0 {
					t.Fatalf("parquet-go decoded %v, want %v", got[:min(8, len(got))], vals[:min(8, len(vals))])
				}
				// We read what we write, appending, and consume it exactly.
				mine, rest, err := decodeDBP([]int64{-1}, enc)
				if err != nil || len(rest) != 0 {
					t.Fatalf("decode: %v, %d bytes left", err, len(rest))
				}
				if mine[0] != -1 || !slices.Equal(mine[1:], vals) {
					t.Fatalf("decoded %v, want %v", mine[1:min(9, len(mine))], vals[:min(8, len(vals))])
				}
				checkFloats(t, enc, vals)
				// We read what parquet-go writes.
				theirs, err := pq.EncodeInt64(nil, vals)
				if err != nil {
					t.Fatal(err)
				}
				mine, _, err = decodeDBP(nil, theirs)
				if err != nil || !slices.Equal(mine, vals) {
					t.Fatalf("decoding parquet-go's encoding: %v", err)
				}
				if minis == dbpMinis && !c.nibble && len(enc) > len(theirs) {
					t.Errorf("%d bytes, parquet-go %d", len(enc), len(theirs))
				}
			})
		}
	}
}

// The padding fix: a page of regular times costs about 9 bytes per 128
// values and nothing more.
func TestDBPRegularTimesSize(t *testing.T) {
	vals := dbpCases()["regular_times"]
	enc := appendDBP(nil, vals, dbpMinis, true)
	if blocks := (len(vals) + 127) / 128; len(enc) > 20+blocks*9 {
		t.Errorf("%d values of regular times take %d bytes, want <= %d", len(vals), len(enc), 20+blocks*9)
	}
}

func TestDBPOtherBlockSizes(t *testing.T) {
	// Other writers may use other block layouts; 256 values in 2
	// miniblocks of 128, written by hand.
	vals := make([]int64, 300)
	for i := range vals {
		vals[i] = int64(i * i)
	}
	enc := binary.AppendUvarint(nil, 256)
	enc = binary.AppendUvarint(enc, 2)
	enc = binary.AppendUvarint(enc, uint64(len(vals)))
	enc = binary.AppendVarint(enc, vals[0])
	prev := vals[0]
	for i := 1; i < len(vals); i += 256 {
		blk := vals[i:min(i+256, len(vals))]
		var d [256]uint64
		minD := blk[0] - prev
		for j, v := range blk {
			minD = min(minD, v-prev)
			d[j] = uint64(v - prev)
			prev = v
		}
		for j := range blk {
			d[j] -= uint64(minD)
		}
		enc = binary.AppendVarint(enc, minD)
		w := [2]byte{}
		for m := range 2 {
			if m*128 < len(blk) {
				w[m] = 20
			}
		}
		enc = append(enc, w[:]...)
		for m := range 2 {
			if w[m] == 0 {
				continue
			}
			for q := range 4 {
				enc = packMini(enc, (*[32]uint64)(d[m*128+q*32:]), 20)
			}
		}
	}
	got, rest, err := decodeDBP(nil, enc)
	if err != nil || len(rest) != 0 || !slices.Equal(got, vals) {
		t.Fatalf("err %v, rest %d, equal %v", err, len(rest), slices.Equal(got, vals))
	}
}

func TestDBPCorrupt(t *testing.T) {
	good := appendDBP(nil, dbpCases()["walk_wide"], dbpMinis, false)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated_header", good[:2]},
		{"truncated_body", good[:len(good)/2]},
		{"zero_block", []byte{0, 4, 10, 0}},
		{"odd_minis", []byte{128, 1, 3, 10, 0}},
		{"huge_count", binary.AppendUvarint([]byte{128, 1, 4}, 1<<40)},
		{"wide", append([]byte{128, 1, 4, 5, 0, 0}, 65, 0, 0, 0)},
	} {
		if _, _, err := decodeDBP(nil, tc.b); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// FuzzDBP checks that any int64s survive our encoder, read back by
// parquet-go and by us, and that our decoder never panics on bytes and
// agrees with parquet-go's where both accept them.
func FuzzDBP(f *testing.F) {
	for _, vals := range dbpCases() {
		b := make([]byte, 0, 8*len(vals))
		for _, v := range vals[:min(len(vals), 300)] {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		f.Add(b, uint8(0))
		f.Add(appendDBP(nil, vals[:min(len(vals), 300)], dbpMinis, true), uint8(1))
	}
	var pq delta.BinaryPackedEncoding
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		if mode%2 == 1 {
			mine, _, err := decodeDBP(nil, b)
			theirs, perr := pq.DecodeInt64(nil, b)
			if err == nil && perr == nil && !slices.Equal(mine, theirs) {
				t.Fatalf("decoders disagree: %v vs %v", mine, theirs)
			}
			return
		}
		vals := make([]int64, len(b)/8)
		for i := range vals {
			vals[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
			if mode&2 != 0 {
				vals[i] >>= (mode >> 2) % 64 // narrower values
			}
		}
		enc := appendDBP(nil, vals, []int{4, 8, 64}[int(mode>>1)%3], mode&8 != 0)
		mine, rest, err := decodeDBP(nil, enc)
		if err != nil || len(rest) != 0 || !slices.Equal(mine, vals) {
			t.Fatalf("round trip: err %v rest %d", err, len(rest))
		}
		theirs, err := pq.DecodeInt64(nil, enc)
		if err != nil || (len(vals) > 0 && !slices.Equal(theirs, vals)) {
			t.Fatalf("parquet-go: %v", err)
		}
		checkFloats(t, enc, vals)
	})
}

// checkFloats decodes b (the DBP encoding of vals) as decimals at several
// scales and wants enc.FromMantissa of each value; and decodes it from
// several starting values on, as integers and as decimals.
func checkFloats(t *testing.T, b []byte, vals []int64) {
	t.Helper()
	if len(vals) == 0 {
		return
	}
	h, rest, err := readDBPHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, skip := range []int{1, 2, 31, 32, 33, 100, 127, 128, 129, 1000, len(vals) - 2} {
		if skip <= 0 || skip >= len(vals)-1 {
			continue
		}
		n := min(len(vals)-1-skip, 77)
		ints := make([]int64, n)
		if _, err := decodeDBPBlocks(ints, h, rest, h.first, skip); err != nil || !slices.Equal(ints, vals[1+skip:1+skip+n]) {
			t.Fatalf("skip %d: %v, %v want %v", skip, err, ints[:min(4, n)], vals[1+skip:1+skip+min(4, n)])
		}
		fl := make([]float64, n)
		if err := decodeDBPFloats(fl, h, rest, h.first, 2, skip); err != nil {
			t.Fatalf("skip %d: %v", skip, err)
		}
		for i, f := range fl {
			if math.Float64bits(f) != math.Float64bits(encpkg.FromMantissa(vals[1+skip+i], 2)) {
				t.Fatalf("skip %d value %d: %v", skip, i, f)
			}
		}
	}
	for _, s := range []int{0, 1, 2, 9} {
		out := make([]float64, len(vals))
		out[0] = encpkg.FromMantissa(h.first, s)
		if err := decodeDBPFloats(out[1:], h, rest, h.first, s, 0); err != nil {
			t.Fatalf("scale %d: %v", s, err)
		}
		for i, m := range vals {
			if want := encpkg.FromMantissa(m, s); math.Float64bits(out[i]) != math.Float64bits(want) {
				t.Fatalf("scale %d value %d: %v, want %v", s, i, out[i], want)
			}
		}
	}
}
