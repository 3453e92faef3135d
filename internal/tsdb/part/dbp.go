package part

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/sluice-dev/sluice/internal/tsdb/enc"
)

// Parquet's DELTA_BINARY_PACKED for INT64, written and read by sluice
// itself (format: docs/format/part.md and Parquet's Encodings.md):
//
//	header: uvarint block size, uvarint miniblocks per block,
//	        uvarint value count, zigzag varint first value
//	block:  zigzag varint min delta, one bit-width byte per miniblock,
//	        then each miniblock's (delta - min delta) bit-packed LSB first
//
// Why not parquet-go's encoder: it takes a block's min delta over the
// zero padding after the last value as well, so the last block of every
// page has a miniblock as wide as the values themselves (61 bits for
// nanosecond times: ~240 bytes per page of a column whose other blocks
// cost 9 bytes). Why not its decoder: the scan decodes into float64
// columns straight from the page bytes (see fastread.go).
const (
	dbpMini      = 32 // values per miniblock
	dbpMinis     = 4  // miniblocks per block, value columns
	dbpTimeMinis = 64 // miniblocks per block, the time column (see write.go)
	dbpMaxMinis  = 64
	dbpMaxValues = 1 << 24 // a page never holds more; bounds allocations on corrupt input
)

var errDBP = errors.New("malformed DELTA_BINARY_PACKED data")

// appendDBP appends the DELTA_BINARY_PACKED encoding of src to dst, in
// blocks of minis miniblocks of 32 values (minis a multiple of 4, at most
// dbpMaxMinis). Deltas wrap around at 64 bits, as the format says.
//
// With nibble, miniblocks that need 1 to 3 bits per value get 4: two
// values per byte, which zstd's byte-wise entropy coder then compresses
// close to their information content (slowly changing one-decimal
// readings: deltas of -1, 0, +1 that 2 packed bits waste and that zstd
// cannot see across byte boundaries). Any width is valid DELTA_BINARY_PACKED.
// On the bench's seed data: DOUBLE values 0.665 -> 0.651 byte per point.
func appendDBP(dst []byte, src []int64, minis int, nibble bool) []byte {
	dst, _ = appendDBPBounds(dst, src, minis, nibble)
	return dst
}

// appendDBPBounds is appendDBP that also returns the min and max of src,
// found on the way.
func appendDBPBounds(dst []byte, src []int64, minis int, nibble bool) ([]byte, int64Bounds) {
	blockLen := minis * dbpMini
	dst = binary.AppendUvarint(dst, uint64(blockLen))
	dst = binary.AppendUvarint(dst, uint64(minis))
	dst = binary.AppendUvarint(dst, uint64(len(src)))
	if len(src) == 0 {
		return binary.AppendVarint(dst, 0), int64Bounds{}
	}
	dst = binary.AppendVarint(dst, src[0])
	var buf [dbpMaxMinis * dbpMini]uint64
	block := buf[:blockLen]
	prev := src[0]
	lo, hi := prev, prev
	for i := 1; i < len(src); i += blockLen {
		vals := src[i:min(i+blockLen, len(src))]
		minD := vals[0] - prev
		deltas := block[:len(vals)]
		for j, v := range vals {
			d := v - prev
			prev = v
			deltas[j] = uint64(d)
			minD = min(minD, d)
			lo, hi = min(lo, v), max(hi, v)
		}
		dst = binary.AppendVarint(dst, minD)
		var wbuf [dbpMaxMinis]byte
		widths := wbuf[:minis] // 0 for miniblocks without values, as the format asks
		for m := range (len(vals) + dbpMini - 1) / dbpMini {
			mb := block[m*dbpMini : (m+1)*dbpMini]
			k := min(dbpMini, len(vals)-m*dbpMini)
			var or uint64
			for j, x := range mb[:k] {
				x -= uint64(minD)
				mb[j] = x
				or |= x
			}
			clear(mb[k:]) // the padding of the last miniblock
			widths[m] = byte(bits.Len64(or))
			if nibble && widths[m] > 0 && widths[m] < 4 {
				widths[m] = 4
			}
		}
		dst = append(dst, widths...)
		for m, w := range widths {
			if w != 0 {
				dst = packMini(dst, (*[dbpMini]uint64)(block[m*dbpMini:]), uint(w))
			}
		}
	}
	return dst, int64Bounds{lo, hi, true}
}

// packMini appends 32 values of w bits each, LSB first: exactly 4·w bytes.
func packMini(dst []byte, v *[dbpMini]uint64, w uint) []byte {
	switch w {
	case 4: // the nibbles of slowly changing readings
		var b [16]byte
		for k := range b {
			b[k] = byte(v[2*k]) | byte(v[2*k+1])<<4
		}
		return append(dst, b[:]...)
	case 8:
		var b [32]byte
		for k := range b {
			b[k] = byte(v[k])
		}
		return append(dst, b[:]...)
	}
	var acc uint64
	var n uint // bits in acc
	for _, x := range v {
		acc |= x << n
		if n+w >= 64 {
			dst = binary.LittleEndian.AppendUint64(dst, acc)
			if n == 0 {
				acc = 0
			} else {
				acc = x >> (64 - n)
			}
			n = n + w - 64
		} else {
			n += w
		}
	}
	for ; n > 0; n -= min(n, 8) {
		dst = append(dst, byte(acc))
		acc >>= 8
	}
	return dst
}

// dbpHeader is a decoded DELTA_BINARY_PACKED header.
type dbpHeader struct {
	block, minis, count int
	first               int64
}

func readDBPHeader(src []byte) (h dbpHeader, rest []byte, err error) {
	var u [3]uint64
	for i := range u {
		v, n := binary.Uvarint(src)
		if n <= 0 {
			return h, nil, fmt.Errorf("%w: header", errDBP)
		}
		u[i], src = v, src[n:]
	}
	first, n := binary.Varint(src)
	if n <= 0 {
		return h, nil, fmt.Errorf("%w: first value", errDBP)
	}
	if u[0] == 0 || u[0]%128 != 0 || u[0] > 1<<16 || u[1] == 0 || u[0]%u[1] != 0 || (u[0]/u[1])%32 != 0 || u[2] > dbpMaxValues {
		return h, nil, fmt.Errorf("%w: block %d, miniblocks %d, values %d", errDBP, u[0], u[1], u[2])
	}
	return dbpHeader{int(u[0]), int(u[1]), int(u[2]), first}, src[n:], nil
}

// decodeDBP appends the values of a DELTA_BINARY_PACKED stream to dst and
// returns the bytes after it.
func decodeDBP(dst []int64, src []byte) ([]int64, []byte, error) {
	h, src, err := readDBPHeader(src)
	if err != nil {
		return dst, nil, err
	}
	if h.count == 0 {
		return dst, src, nil
	}
	base := len(dst)
	dst = append(dst, make([]int64, h.count)...)
	out := dst[base:]
	out[0] = h.first
	rest, err := decodeDBPBlocks(out[1:], h, src, h.first, 0)
	return dst, rest, err
}

// decodeDBPBlocks fills out with the values after the first skip values
// following the first (so out[0] is value 1+skip of the stream) from the
// blocks in src, and returns the bytes after the last block used. Skipped
// miniblocks are summed, not stored (O(1) for width 0: a constant version
// column, regular times).
func decodeDBPBlocks(out []int64, h dbpHeader, src []byte, prev int64, skip int) ([]byte, error) {
	mini := h.block / h.minis
	var tmp []int64
	for len(out) > 0 {
		minD, n := binary.Varint(src)
		if n <= 0 || len(src) < n+h.minis {
			return nil, fmt.Errorf("%w: block header", errDBP)
		}
		widths := src[n : n+h.minis]
		src = src[n+h.minis:]
		for _, w := range widths {
			if len(out) == 0 {
				break
			}
			if w > 64 {
				return nil, fmt.Errorf("%w: bit width %d", errDBP, w)
			}
			size := mini * int(w) / 8
			if len(src) < size {
				return nil, fmt.Errorf("%w: miniblock of %d bytes, %d left", errDBP, size, len(src))
			}
			switch {
			case skip >= mini:
				prev = sumDeltas(src[:size], uint(w), minD, prev, mini)
				skip -= mini
			case skip > 0:
				k := min(mini-skip, len(out))
				if cap(tmp) < skip+k {
					tmp = make([]int64, skip+k)
				}
				prev = unpackDeltas(tmp[:skip+k], src[:size], uint(w), minD, prev)
				copy(out, tmp[skip:skip+k])
				out = out[k:]
				skip = 0
			default:
				k := min(mini, len(out))
				prev = unpackDeltas(out[:k], src[:size], uint(w), minD, prev)
				out = out[k:]
			}
			src = src[size:]
		}
	}
	return src, nil
}

// sumDeltas returns prev plus k deltas of w bits from src, each plus minD.
func sumDeltas(src []byte, w uint, minD, prev int64, k int) int64 {
	prev += minD * int64(k)
	if w == 0 {
		return prev
	}
	mask := uint64(1)<<w - 1
	if w == 64 {
		mask = ^uint64(0)
	}
	var sum uint64
	bit := uint(0)
	i := 0
	if w <= 56 {
		// One 8-byte load a value where src's capacity allows, as in
		// unpackDeltas: a page's rows before a range's start are summed
		// here on every series read that starts mid-page.
		full := src[:cap(src)]
		if lim := (len(full) - 8) * 8; lim >= 0 {
			for n := min(k, lim/int(w)+1); i < n; i++ {
				b := bit >> 3
				sum += binary.LittleEndian.Uint64(full[b:b+8:b+8]) >> (bit & 7) & mask
				bit += w
			}
		}
	}
	for ; i < k; i++ {
		sum += readBits(src, bit, w) & mask
		bit += w
	}
	return prev + int64(sum)
}

// unpackDeltas decodes len(out) values of w bits from src (which holds at
// least len(out)·w bits), adds minD to each and accumulates them onto prev.
// It loads 8 bytes per value where src's capacity allows (the bytes past
// len(src) only feed bits that the mask drops), so callers that keep a few
// bytes of slack after their buffers avoid the byte-wise tail.
func unpackDeltas(out []int64, src []byte, w uint, minD, prev int64) int64 {
	if w == 0 {
		for i := range out {
			prev += minD
			out[i] = prev
		}
		return prev
	}
	if w <= 56 {
		mask := uint64(1)<<w - 1
		full := src[:cap(src)]
		// Values whose 8-byte window fits in full.
		k := len(out)
		if lim := (len(full) - 8) * 8; lim < 0 {
			k = 0
		} else {
			k = min(k, lim/int(w)+1)
		}
		bit := uint(0)
		for i := range out[:k] {
			b := bit >> 3
			x := binary.LittleEndian.Uint64(full[b:b+8:b+8]) >> (bit & 7) & mask
			prev += minD + int64(x)
			out[i] = prev
			bit += w
		}
		for i := k; i < len(out); i++ {
			prev += minD + int64(readBits(src, bit, w)&mask)
			out[i] = prev
			bit += w
		}
		return prev
	}
	mask := uint64(1)<<w - 1
	if w == 64 {
		mask = ^uint64(0)
	}
	bit := uint(0)
	for i := range out {
		prev += minD + int64(readBits(src, bit, w)&mask)
		out[i] = prev
		bit += w
	}
	return prev
}

// readBits returns the w (≤ 64) bits of src at bit offset bit, LSB first,
// unmasked above w; bytes past the end read as zero.
func readBits(src []byte, bit, w uint) uint64 {
	b := int(bit >> 3)
	s := bit & 7
	var lo uint64
	for k := 0; k < 8 && b+k < len(src); k++ {
		lo |= uint64(src[b+k]) << (8 * k)
	}
	x := lo >> s
	if s > 0 && s+w > 64 && b+8 < len(src) {
		x |= uint64(src[b+8]) << (64 - s)
	}
	return x
}

// decodeDBPFloats is decodeDBPBlocks for decimal columns of the given
// scale: each value m goes to out as enc.FromMantissa(m, scale), in the
// same pass.
func decodeDBPFloats(out []float64, h dbpHeader, src []byte, prev int64, scale, skip int) error {
	mini := h.block / h.minis
	p := enc.Pow10(scale)
	var tmp []int64
	for len(out) > 0 {
		minD, n := binary.Varint(src)
		if n <= 0 || len(src) < n+h.minis {
			return fmt.Errorf("%w: block header", errDBP)
		}
		widths := src[n : n+h.minis]
		src = src[n+h.minis:]
		for _, w := range widths {
			if len(out) == 0 {
				break
			}
			if w > 64 {
				return fmt.Errorf("%w: bit width %d", errDBP, w)
			}
			size := mini * int(w) / 8
			if len(src) < size {
				return fmt.Errorf("%w: miniblock of %d bytes, %d left", errDBP, size, len(src))
			}
			switch {
			case skip >= mini:
				prev = sumDeltas(src[:size], uint(w), minD, prev, mini)
				skip -= mini
			case skip > 0 || w > 56:
				// A miniblock that starts before the first value wanted,
				// or has deltas over 56 bits (rare): via integers.
				k := min(mini-skip, len(out))
				if cap(tmp) < skip+k {
					tmp = make([]int64, skip+k)
				}
				prev = unpackDeltas(tmp[:skip+k], src[:size], uint(w), minD, prev)
				for i, m := range tmp[skip : skip+k] {
					out[i] = enc.FromMantissa(m, scale)
				}
				out = out[k:]
				skip = 0
			default:
				k := min(mini, len(out))
				prev = unpackDeltasFloat(out[:k], src[:size], uint(w), minD, prev, p)
				out = out[k:]
			}
			src = src[size:]
		}
	}
	return nil
}

// unpackDeltasFloat is unpackDeltas (w ≤ 56) writing each accumulated
// mantissa m as float64(m) / p: enc.FromMantissa inlined. (A division-free
// form, q = m·(1/p) corrected by two FMAs, is exact too but measured
// slower on the benchmark machine.)
func unpackDeltasFloat(out []float64, src []byte, w uint, minD, prev int64, p float64) int64 {
	if w == 0 {
		if minD == 0 {
			// A flat run (a reading that did not change): one value.
			v := float64(prev) / p
			for i := range out {
				out[i] = v
			}
			return prev
		}
		for i := range out {
			prev += minD
			out[i] = float64(prev) / p
		}
		return prev
	}
	if w == 4 || w == 8 {
		return unpackBytesFloat(out, src, w, minD, prev, p)
	}
	mask := uint64(1)<<w - 1
	full := src[:cap(src)]
	k := len(out)
	if lim := (len(full) - 8) * 8; lim < 0 {
		k = 0
	} else {
		k = min(k, lim/int(w)+1)
	}
	bit := uint(0)
	for i := range out[:k] {
		b := bit >> 3
		x := binary.LittleEndian.Uint64(full[b:b+8:b+8]) >> (bit & 7) & mask
		prev += minD + int64(x)
		out[i] = float64(prev) / p
		bit += w
	}
	for i := k; i < len(out); i++ {
		prev += minD + int64(readBits(src, bit, w)&mask)
		out[i] = float64(prev) / p
		bit += w
	}
	return prev
}

// unpackBytesFloat is unpackDeltasFloat for widths 4 (two values a byte,
// low nibble first: the nibble padding of appendDBP) and 8, without bit
// arithmetic.
func unpackBytesFloat(out []float64, src []byte, w uint, minD, prev int64, p float64) int64 {
	if w == 8 {
		src = src[:len(out)]
		for i, b := range src {
			prev += minD + int64(b)
			out[i] = float64(prev) / p
		}
		return prev
	}
	n := len(out)
	pairs := src[:n/2]
	out2 := out[:2*len(pairs)]
	for j, b := range pairs {
		o := out2[2*j : 2*j+2 : 2*j+2]
		prev += minD + int64(b&15)
		o[0] = float64(prev) / p
		prev += minD + int64(b>>4)
		o[1] = float64(prev) / p
	}
	if n%2 == 1 {
		prev += minD + int64(src[n/2]&15)
		out[n-1] = float64(prev) / p
	}
	return prev
}
