// Package enc holds the value codecs of sluice's storage engine that do not
// depend on a file format: today, turning DOUBLE values that are really
// decimals (21.3, 45.12) into scaled integer mantissas and back.
//
// Why: device readings are printed with one or two decimals. As float64 bits
// they look random and compress poorly; as integers scaled by 10^s they are
// small, slowly changing numbers that delta encoding packs into a few bits.
// The conversion is only used when it is exact: FromMantissa(Mantissa(v, s), s)
// must give back v bit for bit, so -0.0, NaN, ±Inf and values with more
// digits than MaxScale are never converted (the caller keeps them as float64).
//
// Everything here is a pure function over caller-owned slices; it is safe for
// concurrent use and allocates only when an Append* function grows dst.
// The package is a leaf: it imports only the standard library.
package enc

import "math"

// MaxScale is the largest decimal scale tried. Ten digits after the point
// covers nanosecond-ish fractions; beyond that, mantissas of ordinary
// magnitudes overflow the 18 digits a Parquet DECIMAL(18, s) holds.
const MaxScale = 9

// MaxMantissa bounds |mantissa|: 10^18 - 1 is the largest value with 18
// decimal digits, the precision of the Parquet DECIMAL logical type on INT64.
const MaxMantissa = 999_999_999_999_999_999

// pow10 holds exact powers of ten (all below 2^53, so exact in float64).
var pow10 = [MaxScale + 1]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// Mantissa returns m such that FromMantissa(m, scale) == v bit for bit, and
// ok=false when no such m within ±MaxMantissa exists (NaN, ±Inf, -0.0, too
// many digits, too large). scale must be in [0, MaxScale].
func Mantissa(v float64, scale int) (m int64, ok bool) {
	x := v * pow10[scale]
	// The comparison is false for NaN, so NaN is refused here too. The bound
	// also keeps the float→int conversion below in range (Go leaves
	// out-of-range conversions implementation-defined).
	if !(x > -MaxMantissa && x < MaxMantissa) {
		return 0, false
	}
	m = int64(math.Round(x))
	// Compare bits, not values: -0.0 == 0.0 but must not come back as +0.
	if math.Float64bits(FromMantissa(m, scale)) != math.Float64bits(v) {
		return 0, false
	}
	return m, true
}

// FromMantissa returns m / 10^scale as the nearest float64. It is the one
// and only decoding expression; Mantissa checks against exactly this, which
// is what makes the round trip exact by construction.
func FromMantissa(m int64, scale int) float64 {
	return float64(m) / pow10[scale]
}

// DecimalScale reports the smallest scale s in [0, MaxScale] at which every
// non-NULL value of vals round-trips exactly through Mantissa/FromMantissa.
// nulls may be nil; where nulls[i] is true, vals[i] is ignored. ok is false
// when no scale works for all values; an all-NULL or empty input gives
// (0, true).
func DecimalScale(vals []float64, nulls []bool) (scale int, ok bool) {
	var s Scaler
	s.Add(vals, nulls)
	return s.Scale()
}

// Scaler is DecimalScale over values that come in several slices (a
// measure's points spread over many series): Add each slice, then Scale.
// The slices are kept, not copied, until Scale has checked them. The
// answer is DecimalScale's over the slices' concatenation.
type Scaler struct {
	scale  int
	failed bool
	vals   [][]float64
	nulls  [][]bool
}

// Add notes the values of one more slice (nulls as in DecimalScale).
func (s *Scaler) Add(vals []float64, nulls []bool) {
	if s.failed || len(vals) == 0 {
		return
	}
	// One pass that only raises the scale when a value needs it; Scale
	// then verifies every value at the final scale: a value that
	// round-trips at a lower scale almost always does at a higher one,
	// but "almost" is not "always" once mantissas approach 2^53, so it is
	// checked, not assumed.
	for i, v := range vals {
		if nulls != nil && nulls[i] {
			continue
		}
		if _, ok := Mantissa(v, s.scale); ok {
			continue
		}
		found := false
		for x := s.scale + 1; x <= MaxScale; x++ {
			if _, ok := Mantissa(v, x); ok {
				s.scale, found = x, true
				break
			}
		}
		if !found {
			s.failed = true
			s.vals, s.nulls = nil, nil
			return
		}
	}
	s.vals = append(s.vals, vals)
	s.nulls = append(s.nulls, nulls)
}

// Scale returns the smallest scale at which every value added round-trips,
// or ok=false if there is none.
func (s *Scaler) Scale() (scale int, ok bool) {
	if s.failed {
		return 0, false
	}
	for k, vals := range s.vals {
		nulls := s.nulls[k]
		for i, v := range vals {
			if nulls != nil && nulls[i] {
				continue
			}
			if _, ok := Mantissa(v, s.scale); !ok {
				return 0, false
			}
		}
	}
	return s.scale, true
}

// AppendMantissas appends the mantissas of vals at scale to dst and returns
// it; NULL rows (nulls[i]) get 0. ok is false, and dst is returned with
// whatever was appended, if some non-NULL value does not round-trip (the
// caller should have checked with DecimalScale).
func AppendMantissas(dst []int64, vals []float64, nulls []bool, scale int) (_ []int64, ok bool) {
	for i, v := range vals {
		if nulls != nil && nulls[i] {
			dst = append(dst, 0)
			continue
		}
		m, ok := Mantissa(v, scale)
		if !ok {
			return dst, false
		}
		dst = append(dst, m)
	}
	return dst, true
}

// Pow10 returns 10^scale, the divisor of FromMantissa, for callers that
// inline FromMantissa in their own loops; scale must be in [0, MaxScale].
func Pow10(scale int) float64 { return pow10[scale] }

// AppendFloats appends FromMantissa(m, scale) for every m in ms to dst and
// returns it.
func AppendFloats(dst []float64, ms []int64, scale int) []float64 {
	if scale == 0 {
		for _, m := range ms {
			dst = append(dst, float64(m))
		}
		return dst
	}
	p := pow10[scale]
	n := len(dst)
	dst = append(dst, make([]float64, len(ms))...)
	out := dst[n:]
	for i, m := range ms {
		out[i] = float64(m) / p
	}
	return dst
}
