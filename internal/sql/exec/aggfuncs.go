package exec

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// aggFunc is the state of one aggregate for many groups.
type aggFunc interface {
	// add folds rows [0, n) of args into groups gids (gid < 0: skip row).
	add(args []*columnar.Column, gids []int32, n int) error
	// merge folds group g of other (same kind) into group to[g] of this.
	merge(other aggFunc, to []int32) error
	// grow makes room for groups [0, n).
	grow(n int)
	// result appends group g's value to out.
	result(g int, out *columnar.Column)
	// size estimates the bytes held.
	size() int64
	// fresh returns an empty state of the same kind.
	fresh() aggFunc
}

// newAggFunc builds the state for aggregate name over argument types.
func newAggFunc(name string, argTypes []columnar.Type, ret columnar.Type, star bool) (aggFunc, error) {
	name = strings.ToLower(name)
	at := columnar.Unknown
	if len(argTypes) > 0 {
		at = argTypes[0]
	}
	switch name {
	case "count":
		return &countAgg{star: star || len(argTypes) == 0}, nil
	case "count_if":
		return &countAgg{ifTrue: true}, nil
	case plan.CountSumAgg:
		return &countAgg{sum: true}, nil
	case "sum":
		if at == columnar.Float64 {
			return &sumFloatAgg{}, nil
		}
		return &sumIntAgg{t: ret}, nil
	case "avg":
		return &avgAgg{t: ret}, nil
	case plan.AvgMergeAgg:
		return &avgAgg{t: ret, partial: true}, nil
	case "min", "max":
		return &extremeAgg{max: name == "max", vals: columnar.NewColumn(at, 0)}, nil
	case "arbitrary", "any_value":
		return &arbitraryAgg{vals: columnar.NewColumn(at, 0)}, nil
	case "bool_and", "every":
		return &boolAgg{and: true}, nil
	case "bool_or":
		return &boolAgg{}, nil
	case "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop":
		return &varAgg{kind: name}, nil
	case "geometric_mean":
		return &geoMeanAgg{}, nil
	case "approx_distinct":
		return &distinctCountAgg{seed: maphash.MakeSeed()}, nil
	case "approx_percentile":
		return &percentileAgg{t: at, p: -1}, nil
	case "min_by", "max_by":
		if len(argTypes) != 2 {
			return nil, fmt.Errorf("%s needs two arguments", name)
		}
		return &byAgg{max: name == "max_by", xs: columnar.NewColumn(argTypes[0], 0), ys: columnar.NewColumn(argTypes[1], 0)}, nil
	}
	return nil, fmt.Errorf("unknown aggregate %s", name)
}

func growSlice[T any](s []T, n int) []T {
	if len(s) >= n {
		return s
	}
	return append(s, make([]T, n-len(s))...)
}

func nonNull(c *columnar.Column, i int) bool {
	return c.Type != columnar.Unknown && (c.Nulls == nil || !c.Nulls[i])
}

// countAgg counts rows; with sum, it adds up per-series counts instead
// (plan.UseSeriesCounts), which like a count is 0 for no rows.
type countAgg struct {
	star, ifTrue, sum bool
	n                 []int64
}

func (a *countAgg) grow(n int)     { a.n = growSlice(a.n, n) }
func (a *countAgg) size() int64    { return 8 * int64(cap(a.n)) }
func (a *countAgg) fresh() aggFunc { return &countAgg{star: a.star, ifTrue: a.ifTrue, sum: a.sum} }
func (a *countAgg) result(g int, out *columnar.Column) {
	out.AppendInt(a.n[g])
}
func (a *countAgg) add(args []*columnar.Column, gids []int32, n int) error {
	switch {
	case a.sum:
		c := args[0]
		if c.Type != columnar.Int64 {
			return fmt.Errorf("%s over %s", plan.CountSumAgg, c.Type)
		}
		for i, g := range gids[:n] {
			if g >= 0 && nonNull(c, i) {
				a.n[g] += c.Ints[i]
			}
		}
	case a.star:
		if len(a.n) == 1 {
			a.n[0] += int64(countKept(gids[:n]))
			return nil
		}
		cnt := a.n
		for _, g := range gids[:n] {
			if g >= 0 {
				cnt[g]++
			}
		}
	case a.ifTrue:
		c := args[0]
		for i, g := range gids[:n] {
			if g >= 0 && nonNull(c, i) && c.Bools[i] {
				a.n[g]++
			}
		}
	default:
		c := args[0]
		if c.Nulls == nil && c.Type != columnar.Unknown && len(a.n) == 1 {
			a.n[0] += int64(countKept(gids[:n]))
			return nil
		}
		if c.Nulls == nil && c.Type != columnar.Unknown {
			for _, g := range gids[:n] {
				if g >= 0 {
					a.n[g]++
				}
			}
			return nil
		}
		for i, g := range gids[:n] {
			if g >= 0 && nonNull(c, i) {
				a.n[g]++
			}
		}
	}
	return nil
}

// countKept counts the gids that are not negative, without branches (a
// WHERE applied as a mask rejects rows at random).
func countKept(gids []int32) int {
	k := 0
	for _, g := range gids {
		k += int(^uint32(g) >> 31) // 1 when g >= 0
	}
	return k
}

// keptBits is all ones when g >= 0 and zero otherwise.
func keptBits(g int32) uint64 { return uint64(int64(^g) >> 63) }

// keptFloat is v when g >= 0 and else (the bits of) alt, without a branch.
func keptFloat(v float64, g int32, alt uint64) float64 {
	k := keptBits(g)
	return math.Float64frombits(math.Float64bits(v)&k | alt&^k)
}

func (a *countAgg) merge(o aggFunc, to []int32) error {
	for g, v := range o.(*countAgg).n {
		a.n[to[g]] += v
	}
	return nil
}

type sumIntAgg struct {
	t    columnar.Type
	sum  []int64
	seen []bool
}

func (a *sumIntAgg) grow(n int)     { a.sum = growSlice(a.sum, n); a.seen = growSlice(a.seen, n) }
func (a *sumIntAgg) size() int64    { return 9 * int64(cap(a.sum)) }
func (a *sumIntAgg) fresh() aggFunc { return &sumIntAgg{t: a.t} }
func (a *sumIntAgg) result(g int, out *columnar.Column) {
	if !a.seen[g] {
		out.AppendNull()
		return
	}
	out.AppendInt(a.sum[g])
}
func (a *sumIntAgg) addOne(g int32, v int64) error {
	s := a.sum[g]
	r := s + v
	if (s^r)&(v^r) < 0 {
		return fmt.Errorf("sum: %w", fn.ErrOverflow)
	}
	a.sum[g] = r
	a.seen[g] = true
	return nil
}
func (a *sumIntAgg) add(args []*columnar.Column, gids []int32, n int) error {
	c := args[0]
	if c.Type == columnar.Unknown {
		return nil
	}
	for i, g := range gids[:n] {
		if g >= 0 && nonNull(c, i) {
			if err := a.addOne(g, c.Ints[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
func (a *sumIntAgg) merge(o aggFunc, to []int32) error {
	b := o.(*sumIntAgg)
	for g, v := range b.sum {
		if b.seen[g] {
			if err := a.addOne(to[g], v); err != nil {
				return err
			}
		}
	}
	return nil
}

type sumFloatAgg struct {
	sum  []float64
	seen []bool
}

func (a *sumFloatAgg) grow(n int)     { a.sum = growSlice(a.sum, n); a.seen = growSlice(a.seen, n) }
func (a *sumFloatAgg) size() int64    { return 9 * int64(cap(a.sum)) }
func (a *sumFloatAgg) fresh() aggFunc { return &sumFloatAgg{} }
func (a *sumFloatAgg) result(g int, out *columnar.Column) {
	if !a.seen[g] {
		out.AppendNull()
		return
	}
	out.AppendFloat(a.sum[g])
}
func (a *sumFloatAgg) add(args []*columnar.Column, gids []int32, n int) error {
	c := args[0]
	if c.Type == columnar.Unknown {
		return nil
	}
	if len(a.sum) == 1 && c.Nulls == nil {
		// One group (no GROUP BY): a tight loop the compiler can keep in
		// registers, adding +0 for rejected rows (the sum starts at +0,
		// so it cannot turn a -0 into +0).
		s, vals := a.sum[0], c.Floats[:n]
		for i, g := range gids[:n] {
			s += keptFloat(vals[i], g, 0)
		}
		a.sum[0] = s
		a.seen[0] = a.seen[0] || countKept(gids[:n]) > 0
		return nil
	}
	for i, g := range gids[:n] {
		if g >= 0 && nonNull(c, i) {
			a.sum[g] += c.Floats[i]
			a.seen[g] = true
		}
	}
	return nil
}
func (a *sumFloatAgg) merge(o aggFunc, to []int32) error {
	b := o.(*sumFloatAgg)
	for g, v := range b.sum {
		if b.seen[g] {
			a.sum[to[g]] += v
			a.seen[to[g]] = true
		}
	}
	return nil
}

func numAt(c *columnar.Column, i int) float64 {
	if c.Type == columnar.Float64 {
		return c.Floats[i]
	}
	return float64(c.Ints[i])
}

type avgAgg struct {
	t   columnar.Type
	sum []float64
	n   []int64
	// partial: the arguments are partial sums and counts
	// (plan.AvgMergeAgg) rather than values.
	partial bool
}

func (a *avgAgg) grow(n int)     { a.sum = growSlice(a.sum, n); a.n = growSlice(a.n, n) }
func (a *avgAgg) size() int64    { return 16 * int64(cap(a.sum)) }
func (a *avgAgg) fresh() aggFunc { return &avgAgg{t: a.t, partial: a.partial} }
func (a *avgAgg) result(g int, out *columnar.Column) {
	if a.n[g] == 0 {
		out.AppendNull()
		return
	}
	v := a.sum[g] / float64(a.n[g])
	if a.t == columnar.Interval {
		out.AppendInt(int64(math.Round(v)))
		return
	}
	out.AppendFloat(v)
}
func (a *avgAgg) add(args []*columnar.Column, gids []int32, n int) error {
	c := args[0]
	if a.partial {
		if len(args) != 2 || c.Type != columnar.Float64 || args[1].Type != columnar.Int64 {
			return fmt.Errorf("%s wants (DOUBLE, BIGINT)", plan.AvgMergeAgg)
		}
		k := args[1]
		for i, g := range gids[:n] {
			if g >= 0 && nonNull(c, i) && nonNull(k, i) {
				a.sum[g] += c.Floats[i]
				a.n[g] += k.Ints[i]
			}
		}
		return nil
	}
	if c.Type == columnar.Unknown {
		return nil
	}
	if len(a.n) == 1 && c.Type == columnar.Float64 && c.Nulls == nil {
		// One group (no GROUP BY): a tight loop kept in registers (see
		// sumFloatAgg).
		sum, vals := a.sum[0], c.Floats[:n]
		for i, g := range gids[:n] {
			sum += keptFloat(vals[i], g, 0)
		}
		a.sum[0] = sum
		a.n[0] += int64(countKept(gids[:n]))
		return nil
	}
	if c.Type == columnar.Float64 && c.Nulls == nil {
		// The common case (GROUP BY over a DOUBLE without NULLs) without
		// the per-row type and NULL tests.
		vals, sum, cnt := c.Floats[:n], a.sum, a.n
		for i, g := range gids[:n] {
			if g >= 0 {
				sum[g] += vals[i]
				cnt[g]++
			}
		}
		return nil
	}
	for i, g := range gids[:n] {
		if g >= 0 && nonNull(c, i) {
			a.sum[g] += numAt(c, i)
			a.n[g]++
		}
	}
	return nil
}
func (a *avgAgg) merge(o aggFunc, to []int32) error {
	b := o.(*avgAgg)
	for g := range b.sum {
		a.sum[to[g]] += b.sum[g]
		a.n[to[g]] += b.n[g]
	}
	return nil
}

// extremeAgg is min/max for any orderable type (NaN is the greatest DOUBLE).
type extremeAgg struct {
	max  bool
	vals *columnar.Column
	seen []bool
}

func (a *extremeAgg) grow(n int) {
	growTo(a.vals, n)
	a.seen = growSlice(a.seen, n)
}
func (a *extremeAgg) size() int64 { return colBytes(a.vals) + int64(cap(a.seen)) }
func (a *extremeAgg) fresh() aggFunc {
	return &extremeAgg{max: a.max, vals: columnar.NewColumn(a.vals.Type, 0)}
}
func (a *extremeAgg) result(g int, out *columnar.Column) {
	if !a.seen[g] {
		out.AppendNull()
		return
	}
	out.AppendFrom(a.vals, g)
}
func (a *extremeAgg) offer(g int32, c *columnar.Column, i int) {
	if !a.seen[g] {
		setRow(a.vals, int(g), c, i)
		a.seen[g] = true
		return
	}
	d := cmpVal(c, i, a.vals, int(g))
	if (a.max && d > 0) || (!a.max && d < 0) {
		setRow(a.vals, int(g), c, i)
	}
}
func (a *extremeAgg) add(args []*columnar.Column, gids []int32, n int) error {
	c := args[0]
	if c.Type == columnar.Unknown {
		return nil
	}
	if c.Type == columnar.Float64 && c.Nulls == nil && len(a.seen) == 1 {
		a.addFloat1(c, gids, n)
		return nil
	}
	for i, g := range gids[:n] {
		if g >= 0 && nonNull(c, i) {
			a.offer(g, c, i)
		}
	}
	return nil
}

// addFloat1 is add for one group of NULL-free DOUBLEs, the running
// extreme kept in a register. The order is fn.CompareFloat's: NaN is the
// greatest, and of equal values (0 and -0) the first stays.
func (a *extremeAgg) addFloat1(c *columnar.Column, gids []int32, n int) {
	vals := c.Floats[:n]
	gids = gids[:n]
	best, seen := a.vals.Floats[0], a.seen[0]
	i := 0
	for ; !seen && i < n; i++ {
		if gids[i] >= 0 {
			best, seen = vals[i], true
		}
	}
	if !seen {
		return
	}
	// Rejected rows read as -Inf (max) or +Inf (min), which never win,
	// so the loop has no branch on the mask.
	if a.max {
		negInf := math.Float64bits(math.Inf(-1))
		for ; i < n; i++ {
			if v := keptFloat(vals[i], gids[i], negInf); v > best || (v != v && best == best) {
				best = v
			}
		}
	} else {
		posInf := math.Float64bits(math.Inf(1))
		for ; i < n; i++ {
			if v := keptFloat(vals[i], gids[i], posInf); v < best || (best != best && v == v && gids[i] >= 0) {
				best = v
			}
		}
	}
	a.vals.Floats[0] = best
	if a.vals.Nulls != nil {
		a.vals.Nulls[0] = false
	}
	a.seen[0] = true
}
func (a *extremeAgg) merge(o aggFunc, to []int32) error {
	b := o.(*extremeAgg)
	for g := range b.seen {
		if b.seen[g] {
			a.offer(to[g], b.vals, g)
		}
	}
	return nil
}

type arbitraryAgg struct {
	vals *columnar.Column
	seen []bool
}

func (a *arbitraryAgg) grow(n int)  { growTo(a.vals, n); a.seen = growSlice(a.seen, n) }
func (a *arbitraryAgg) size() int64 { return colBytes(a.vals) + int64(cap(a.seen)) }
func (a *arbitraryAgg) fresh() aggFunc {
	return &arbitraryAgg{vals: columnar.NewColumn(a.vals.Type, 0)}
}
func (a *arbitraryAgg) result(g int, out *columnar.Column) {
	if !a.seen[g] {
		out.AppendNull()
		return
	}
	out.AppendFrom(a.vals, g)
}
func (a *arbitraryAgg) add(args []*columnar.Column, gids []int32, n int) error {
	c := args[0]
	for i, g := range gids[:n] {
		if g >= 0 && !a.seen[g] && nonNull(c, i) {
			setRow(a.vals, int(g), c, i)
			a.seen[g] = true
		}
	}
	return nil
}
func (a *arbitraryAgg) merge(o aggFunc, to []int32) error {
	b := o.(*arbitraryAgg)
	for g := range b.seen {
		if b.seen[g] && !a.seen[to[g]] {
			setRow(a.vals, int(to[g]), b.vals, g)
			a.seen[to[g]] = true
		}
	}
	return nil
}

type boolAgg struct {
	and  bool
	v    []bool
	seen []bool
}

func (a *boolAgg) grow(n int)     { a.v = growSlice(a.v, n); a.seen = growSlice(a.seen, n) }
func (a *boolAgg) size() int64    { return 2 * int64(cap(a.v)) }
func (a *boolAgg) fresh() aggFunc { return &boolAgg{and: a.and} }
func (a *boolAgg) result(g int, out *columnar.Column) {
	if !a.seen[g] {
		out.AppendNull()
		return
	}
	out.AppendBool(a.v[g])
}
func (a *boolAgg) offer(g int32, v bool) {
	if !a.seen[g] {
		a.v[g], a.seen[g] = v, true
	} else if a.and {
		a.v[g] = a.v[g] && v
	} else {
		a.v[g] = a.v[g] || v
	}
}
func (a *boolAgg) add(args []*columnar.Column, gids []int32, n int) error {
	c := args[0]
	for i, g := range gids[:n] {
		if g >= 0 && nonNull(c, i) {
			a.offer(g, c.Bools[i])
		}
	}
	return nil
}
func (a *boolAgg) merge(o aggFunc, to []int32) error {
	b := o.(*boolAgg)
	for g := range b.seen {
		if b.seen[g] {
			a.offer(to[g], b.v[g])
		}
	}
	return nil
}

// varAgg keeps count, mean and the sum of squared deviations (Welford),
// merged with Chan et al.'s formula, for the stddev/variance family.
type varAgg struct {
	kind    string
	n       []float64
	mean, m []float64
}

func (a *varAgg) grow(n int) {
	a.n, a.mean, a.m = growSlice(a.n, n), growSlice(a.mean, n), growSlice(a.m, n)
}
func (a *varAgg) size() int64    { return 24 * int64(cap(a.n)) }
func (a *varAgg) fresh() aggFunc { return &varAgg{kind: a.kind} }
func (a *varAgg) result(g int, out *columnar.Column) {
	n := a.n[g]
	pop := a.kind == "stddev_pop" || a.kind == "var_pop"
	if n == 0 || (!pop && n < 2) {
		out.AppendNull()
		return
	}
	d := n - 1
	if pop {
		d = n
	}
	v := a.m[g] / d
	if strings.HasPrefix(a.kind, "stddev") {
		v = math.Sqrt(v)
	}
	out.AppendFloat(v)
}
func (a *varAgg) add(args []*columnar.Column, gids []int32, n int) error {
	c := args[0]
	if c.Type == columnar.Unknown {
		return nil
	}
	for i, g := range gids[:n] {
		if g >= 0 && nonNull(c, i) {
			x := numAt(c, i)
			a.n[g]++
			d := x - a.mean[g]
			a.mean[g] += d / a.n[g]
			a.m[g] += d * (x - a.mean[g])
		}
	}
	return nil
}
func (a *varAgg) merge(o aggFunc, to []int32) error {
	b := o.(*varAgg)
	for g := range b.n {
		if b.n[g] == 0 {
			continue
		}
		t := to[g]
		na, nb := a.n[t], b.n[g]
		n := na + nb
		d := b.mean[g] - a.mean[t]
		a.mean[t] += d * nb / n
		a.m[t] += b.m[g] + d*d*na*nb/n
		a.n[t] = n
	}
	return nil
}

type geoMeanAgg struct {
	logs []float64
	n    []int64
}

func (a *geoMeanAgg) grow(n int)     { a.logs = growSlice(a.logs, n); a.n = growSlice(a.n, n) }
func (a *geoMeanAgg) size() int64    { return 16 * int64(cap(a.n)) }
func (a *geoMeanAgg) fresh() aggFunc { return &geoMeanAgg{} }
func (a *geoMeanAgg) result(g int, out *columnar.Column) {
	if a.n[g] == 0 {
		out.AppendNull()
		return
	}
	out.AppendFloat(math.Exp(a.logs[g] / float64(a.n[g])))
}
func (a *geoMeanAgg) add(args []*columnar.Column, gids []int32, n int) error {
	c := args[0]
	if c.Type == columnar.Unknown {
		return nil
	}
	for i, g := range gids[:n] {
		if g >= 0 && nonNull(c, i) {
			a.logs[g] += math.Log(numAt(c, i))
			a.n[g]++
		}
	}
	return nil
}
func (a *geoMeanAgg) merge(o aggFunc, to []int32) error {
	b := o.(*geoMeanAgg)
	for g := range b.n {
		a.logs[to[g]] += b.logs[g]
		a.n[to[g]] += b.n[g]
	}
	return nil
}

// distinctCountAgg implements approx_distinct exactly: a set of 64-bit
// hashes per group (collisions are negligible below billions of values).
type distinctCountAgg struct {
	seed  maphash.Seed
	sets  []map[uint64]struct{}
	bytes int64
	buf   []byte
}

func (a *distinctCountAgg) grow(n int)     { a.sets = growSlice(a.sets, n) }
func (a *distinctCountAgg) size() int64    { return a.bytes + 8*int64(cap(a.sets)) }
func (a *distinctCountAgg) fresh() aggFunc { return &distinctCountAgg{seed: a.seed} }
func (a *distinctCountAgg) result(g int, out *columnar.Column) {
	out.AppendInt(int64(len(a.sets[g])))
}
func (a *distinctCountAgg) insert(g int32, h uint64) {
	s := a.sets[g]
	if s == nil {
		s = make(map[uint64]struct{})
		a.sets[g] = s
	}
	if _, ok := s[h]; !ok {
		s[h] = struct{}{}
		a.bytes += 16
	}
}
func (a *distinctCountAgg) add(args []*columnar.Column, gids []int32, n int) error {
	c := args[0]
	if c.Type == columnar.Unknown {
		return nil
	}
	for i, g := range gids[:n] {
		if g >= 0 && nonNull(c, i) {
			a.buf = appendKey(a.buf[:0], c, i)
			a.insert(g, maphash.Bytes(a.seed, a.buf))
		}
	}
	return nil
}
func (a *distinctCountAgg) merge(o aggFunc, to []int32) error {
	b := o.(*distinctCountAgg)
	for g, s := range b.sets {
		for h := range s {
			a.insert(to[g], h)
		}
	}
	return nil
}

// percentileAgg implements approx_percentile exactly: it keeps every value
// and returns the nearest-rank percentile (the value at rank ceil(p·n),
// no interpolation), so the result is always one of the inputs.
type percentileAgg struct {
	t     columnar.Type
	p     float64
	ints  [][]int64
	flts  [][]float64
	bytes int64
}

func (a *percentileAgg) grow(n int) {
	if a.t == columnar.Float64 {
		a.flts = growSlice(a.flts, n)
	} else {
		a.ints = growSlice(a.ints, n)
	}
}
func (a *percentileAgg) size() int64    { return a.bytes + 24*int64(cap(a.ints)+cap(a.flts)) }
func (a *percentileAgg) fresh() aggFunc { return &percentileAgg{t: a.t, p: a.p} }
func (a *percentileAgg) rank(n int) int {
	k := int(math.Ceil(a.p*float64(n))) - 1
	return max(0, min(k, n-1))
}
func (a *percentileAgg) result(g int, out *columnar.Column) {
	if a.t == columnar.Float64 {
		v := a.flts[g]
		if len(v) == 0 {
			out.AppendNull()
			return
		}
		slices.SortFunc(v, fn.CompareFloat)
		out.AppendFloat(v[a.rank(len(v))])
		return
	}
	if a.t == columnar.Unknown || len(a.ints[g]) == 0 {
		out.AppendNull()
		return
	}
	v := a.ints[g]
	slices.Sort(v)
	out.AppendInt(v[a.rank(len(v))])
}
func (a *percentileAgg) add(args []*columnar.Column, gids []int32, n int) error {
	c, pc := args[0], args[1]
	if c.Type == columnar.Unknown {
		return nil
	}
	for i, g := range gids[:n] {
		if g < 0 || !nonNull(c, i) {
			continue
		}
		if !nonNull(pc, i) {
			return fmt.Errorf("approx_percentile: percentile must not be NULL")
		}
		p := numAt(pc, i)
		if p < 0 || p > 1 || p != p {
			return fmt.Errorf("approx_percentile: percentile must be between 0 and 1, got %v", p)
		}
		if a.p >= 0 && p != a.p {
			return fmt.Errorf("approx_percentile: percentile must be constant")
		}
		a.p = p
		if a.t == columnar.Float64 {
			a.flts[g] = append(a.flts[g], c.Floats[i])
		} else {
			a.ints[g] = append(a.ints[g], c.Ints[i])
		}
		a.bytes += 8
	}
	return nil
}
func (a *percentileAgg) merge(o aggFunc, to []int32) error {
	b := o.(*percentileAgg)
	if b.p >= 0 {
		a.p = b.p
	}
	for g, v := range b.flts {
		a.flts[to[g]] = append(a.flts[to[g]], v...)
		a.bytes += 8 * int64(len(v))
	}
	for g, v := range b.ints {
		a.ints[to[g]] = append(a.ints[to[g]], v...)
		a.bytes += 8 * int64(len(v))
	}
	return nil
}

// byAgg is min_by/max_by(x, y): x of the row with the least/greatest y;
// rows with NULL y are skipped, the earliest row wins ties.
type byAgg struct {
	max    bool
	xs, ys *columnar.Column
	seen   []bool
}

func (a *byAgg) grow(n int) { growTo(a.xs, n); growTo(a.ys, n); a.seen = growSlice(a.seen, n) }
func (a *byAgg) size() int64 {
	return colBytes(a.xs) + colBytes(a.ys) + int64(cap(a.seen))
}
func (a *byAgg) fresh() aggFunc {
	return &byAgg{max: a.max, xs: columnar.NewColumn(a.xs.Type, 0), ys: columnar.NewColumn(a.ys.Type, 0)}
}
func (a *byAgg) result(g int, out *columnar.Column) {
	if !a.seen[g] {
		out.AppendNull()
		return
	}
	if a.xs.Type == columnar.Unknown {
		out.AppendNull()
		return
	}
	out.AppendFrom(a.xs, g)
}
func (a *byAgg) offer(g int32, x *columnar.Column, y *columnar.Column, i int) {
	if a.seen[g] {
		d := cmpVal(y, i, a.ys, int(g))
		if !((a.max && d > 0) || (!a.max && d < 0)) {
			return
		}
	}
	setRow(a.xs, int(g), x, i)
	setRow(a.ys, int(g), y, i)
	a.seen[g] = true
}
func (a *byAgg) add(args []*columnar.Column, gids []int32, n int) error {
	x, y := args[0], args[1]
	for i, g := range gids[:n] {
		if g >= 0 && nonNull(y, i) {
			a.offer(g, x, y, i)
		}
	}
	return nil
}
func (a *byAgg) merge(o aggFunc, to []int32) error {
	b := o.(*byAgg)
	for g := range b.seen {
		if b.seen[g] {
			a.offer(to[g], b.xs, b.ys, g)
		}
	}
	return nil
}

// distinctAgg feeds its inner aggregate only the first occurrence of each
// (group, arguments) combination: count(DISTINCT x), sum(DISTINCT x), ...
type distinctAgg struct {
	inner aggFunc
	seen  map[string]struct{}
	buf   []byte
	bytes int64
}

func (a *distinctAgg) grow(n int)  { a.inner.grow(n) }
func (a *distinctAgg) size() int64 { return a.inner.size() + a.bytes }
func (a *distinctAgg) fresh() aggFunc {
	return &distinctAgg{inner: a.inner.fresh(), seen: make(map[string]struct{})}
}
func (a *distinctAgg) result(g int, out *columnar.Column) { a.inner.result(g, out) }
func (a *distinctAgg) add(args []*columnar.Column, gids []int32, n int) error {
	mine := make([]int32, n)
	for i, g := range gids[:n] {
		mine[i] = -1
		if g < 0 {
			continue
		}
		a.buf = binary.LittleEndian.AppendUint32(a.buf[:0], uint32(g))
		for _, c := range args {
			a.buf = appendKey(a.buf, c, i)
		}
		if _, ok := a.seen[string(a.buf)]; ok {
			continue
		}
		a.seen[string(a.buf)] = struct{}{}
		a.bytes += int64(len(a.buf)) + 32
		mine[i] = g
	}
	return a.inner.add(args, mine, n)
}
func (a *distinctAgg) merge(aggFunc, []int32) error {
	return fmt.Errorf("exec: DISTINCT aggregates are not merged (run serially)")
}
