package event

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
)

// bigNanos computes ⌊s × 10^scale⌋ with math/big, the reference for
// decimal.nanos.
func bigNanos(s string, scale int) (int64, timeStatus, bool) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, 0, false
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	q := new(big.Int).Quo(r.Num(), r.Denom()) // truncates toward zero
	if r.Sign() < 0 {
		return 0, timeNegative, true
	}
	if !q.IsInt64() {
		return 0, timeOverflow, true
	}
	return q.Int64(), timeOK, true
}

// FuzzDecimalNanos checks the exact decimal → nanoseconds conversion
// against math/big for every literal the decimal grammar accepts.
//
//	go test ./internal/event -run '^$' -fuzz FuzzDecimalNanos -fuzztime 60s
func FuzzDecimalNanos(f *testing.F) {
	for _, s := range []string{"1609757175225.499", "1.6e12", "0", "-0.0", "-1", "9223372036854775807",
		"9223372036854775808", "9223372036854.775807", "1e-9", ".5", "5.", "+1", "0.0000000001609757175225499e28",
		"00012.5000", "1E+3", "18446744073709551616", "99999999999999999999e-2",
		"9223372036854775.8079", "922337203685477580.7", "999999999999999999.999999999", "1609757175225.4999999999"} {
		for scale := range []int{0, 3, 6, 9} {
			f.Add(s, uint8(scale))
		}
	}
	f.Fuzz(func(t *testing.T, s string, scaleSel uint8) {
		scale := []int{0, 3, 6, 9}[scaleSel%4]
		d, ok := parseDecimal([]byte(s))
		// The grammar is what strconv.ParseFloat accepts in decimal form.
		_, perr := strconv.ParseFloat(s, 64)
		strconvOK := perr == nil || perr.(*strconv.NumError).Err == strconv.ErrRange
		plain := !strings.ContainsAny(s, "xXpP_iInN")
		if ok && !strconvOK {
			t.Fatalf("parseDecimal accepts %q, strconv does not: %v", s, perr)
		}
		if !ok && strconvOK && plain {
			t.Fatalf("parseDecimal rejects %q, strconv accepts it", s)
		}
		if !ok {
			return
		}
		// math/big cannot hold 10^huge; only compare moderate exponents.
		if e := d.exp; e > 400 || e < -400 {
			return
		}
		got, st := d.nanos(scale)
		// The fast path for plain digits agrees with the decimal path on
		// everything it takes.
		if ns, ok := wholeTime([]byte(s), scale); ok && (st != timeOK || ns != got) {
			t.Fatalf("%q × 10^%d: wholeTime %d, decimal path %d (status %d)", s, scale, ns, got, st)
		}
		want, wst, bok := bigNanos(s, scale)
		if !bok {
			return // big.Rat rejects some forms ParseFloat accepts ("5.")
		}
		if wst == timeNegative && len(strings.Trim(d.digitsOnly(), "0")) == 0 {
			wst = timeOK // -0
		}
		if st != wst || got != want {
			t.Fatalf("%q × 10^%d: got %d (status %d), math/big %d (status %d)", s, scale, got, st, want, wst)
		}
	})
}

func (d decimal) digitsOnly() string { return strings.ReplaceAll(string(d.digits), ".", "") }

func TestDecimalNanos(t *testing.T) {
	for _, c := range []struct {
		in    string
		scale int
		want  int64
		st    timeStatus
	}{
		{"1609757175225.499", 6, 1609757175225499000, timeOK},
		{"1609757175225.4999999999", 6, 1609757175225499999, timeOK},
		{"1.6e12", 6, 1600000000000000000, timeOK},
		{"-0", 6, 0, timeOK},
		{"-0.1", 0, 0, timeNegative},
		{"9223372036854775807", 0, math.MaxInt64, timeOK},
		{"9223372036854775808", 0, 0, timeOverflow},
		{"18446744073709551616", 0, 0, timeOverflow},
		{"9223372036.854775807", 9, math.MaxInt64, timeOK},
		{"0.000000000999", 9, 0, timeOK},
		{"1e-400", 9, 0, timeOK},
	} {
		d, ok := parseDecimal([]byte(c.in))
		if !ok {
			t.Fatalf("%q: not parsed", c.in)
		}
		got, st := d.nanos(c.scale)
		if got != c.want || st != c.st {
			t.Errorf("%q × 10^%d = %d (%d), want %d (%d)", c.in, c.scale, got, st, c.want, c.st)
		}
	}
	for _, bad := range []string{"", "+", "-", ".", "e5", "1e", "1e+", "1.2.3", "1 ", " 1", "0x1", "inf", "1_0"} {
		if _, ok := parseDecimal([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzFastFloat checks the short-decimal fast path against strconv, bit
// for bit, on everything it accepts.
//
//	go test ./internal/event -run '^$' -fuzz FuzzFastFloat -fuzztime 30s
func FuzzFastFloat(f *testing.F) {
	for _, s := range []string{"11.2", "-0", "777.88", "0.1", "123456789012345", "1234567890.12345", ".5", "5.", "-0.000000000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x, ok := fastFloat([]byte(s))
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("fastFloat accepts %q, strconv: %v", s, err)
		}
		if math.Float64bits(x) != math.Float64bits(want) {
			t.Fatalf("fastFloat(%q) = %v, strconv %v", s, x, want)
		}
	})
}
