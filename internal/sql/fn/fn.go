// Package fn is the SQL engine's function library: scalar functions and
// operators (arithmetic, comparison, logic, time, math, string,
// conditional), casts, value parsing/formatting helpers for the binder and
// the wire layers, and the catalogue of aggregate and window function names
// with their result types.
//
// Functions are looked up by lower-case name with Resolve, which picks a
// signature for the argument types (promoting BIGINT to DOUBLE and letting
// NULL literals of type UNKNOWN match anything) and returns a vectorized
// ScalarFunc. A ScalarFunc receives one column per argument; each column
// has either n rows or exactly one row, which stands for a constant
// broadcast to all n rows. It returns a new column of n rows and never
// modifies its arguments.
//
// The registry is built once at package initialisation and only read
// afterwards, so everything here is safe for concurrent use; a Context may
// be shared by goroutines evaluating the same query.
package fn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// ScalarFunc evaluates a function over n rows. Each argument column has n
// rows or one row (a constant); the result has n rows.
type ScalarFunc func(args []*columnar.Column, n int, ctx *Context) (*columnar.Column, error)

// Context carries per-query state functions need: the query's clock and a
// cache of compiled patterns (LIKE, regular expressions, date formats) so
// constant patterns are compiled once per query, not once per batch.
// The zero value is usable (Now then reads the wall clock).
type Context struct {
	// Now is the query's start time; now(), current_timestamp and ago()
	// read it so that every row sees the same instant.
	Now time.Time

	mu    sync.Mutex
	cache map[cacheKey]any
	rng   *rand.Rand
}

type cacheKey struct {
	kind string
	s    string
}

// NewContext returns a Context whose clock reads now.
func NewContext(now time.Time) *Context { return &Context{Now: now} }

func (c *Context) now() time.Time {
	if c == nil || c.Now.IsZero() {
		return time.Now()
	}
	return c.Now
}

// cached returns the compiled form of s under kind, compiling it once.
func (c *Context) cached(kind, s string, compile func(string) (any, error)) (any, error) {
	if c == nil {
		return compile(s)
	}
	k := cacheKey{kind, s}
	c.mu.Lock()
	v, ok := c.cache[k]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := compile(s)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.cache == nil {
		c.cache = make(map[cacheKey]any)
	}
	if len(c.cache) < 10000 { // a column of distinct patterns must not grow without bound
		c.cache[k] = v
	}
	c.mu.Unlock()
	return v, nil
}

func (c *Context) regexp(pat string) (*regexp.Regexp, error) {
	v, err := c.cached("re", pat, func(s string) (any, error) {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression %q: %w", s, err)
		}
		return re, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*regexp.Regexp), nil
}

func (c *Context) float64() float64 {
	if c == nil {
		return rand.Float64()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rng == nil {
		c.rng = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed))
	}
	return c.rng.Float64()
}

// Signature is one accepted argument list of a function.
type Signature struct {
	Args     []columnar.Type
	Variadic bool // the last argument type repeats (zero or more times more)
	Ret      columnar.Type
	Impl     ScalarFunc
}

func (s Signature) String(name string) string {
	parts := make([]string, len(s.Args))
	for i, t := range s.Args {
		parts[i] = t.String()
	}
	if s.Variadic {
		parts[len(parts)-1] += "..."
	}
	return name + "(" + strings.Join(parts, ", ") + ")"
}

type funcDef struct {
	sigs     []Signature
	volatile bool
}

// registry is filled by init functions in this package and read-only after.
var registry = map[string]*funcDef{}

func register(name string, sigs ...Signature) { registerDef(name, false, sigs...) }

func registerDef(name string, volatile bool, sigs ...Signature) {
	d := registry[name]
	if d == nil {
		d = &funcDef{volatile: volatile}
		registry[name] = d
	}
	d.sigs = append(d.sigs, sigs...)
}

func alias(name, to string) { registry[name] = registry[to] }

func sig(ret columnar.Type, impl ScalarFunc, args ...columnar.Type) Signature {
	return Signature{Args: args, Ret: ret, Impl: impl}
}

func variadic(ret columnar.Type, impl ScalarFunc, args ...columnar.Type) Signature {
	return Signature{Args: args, Variadic: true, Ret: ret, Impl: impl}
}

// ErrUnknownFunction is wrapped by Resolve's error when no function has the name.
var ErrUnknownFunction = errors.New("unknown function")

// IsVolatile reports whether a function returns different values on each
// call with the same arguments (random), so it must not be folded into a
// constant.
func IsVolatile(name string) bool {
	d := registry[strings.ToLower(name)]
	return d != nil && d.volatile
}

// Functions lists the names of all scalar functions and operators, sorted.
func Functions() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Resolve finds the signature of function name (lower case, or an
// operator's SQL spelling) matching args and returns its result type and
// implementation. Arguments are matched exactly first, then with BIGINT
// promoted to DOUBLE; UNKNOWN (a NULL literal) matches any type. The
// returned implementation accepts the argument types as given and does the
// promotions itself.
func Resolve(name string, args []columnar.Type) (columnar.Type, ScalarFunc, error) {
	lname := strings.ToLower(name)
	d := registry[lname]
	if d == nil {
		return columnar.Unknown, nil, fmt.Errorf("fn: %w %s(%s)", ErrUnknownFunction, name, typeList(args))
	}
	for pass := 0; pass < 3; pass++ {
		for _, s := range d.sigs {
			if conv, ok := matchSig(s, args, pass); ok {
				return s.Ret, wrapConv(s.Impl, conv), nil
			}
		}
	}
	accepted := make([]string, len(d.sigs))
	for i, s := range d.sigs {
		accepted[i] = s.String(lname)
	}
	return columnar.Unknown, nil, fmt.Errorf("fn: no signature %s(%s); accepted: %s", lname, typeList(args), strings.Join(accepted, ", "))
}

func typeList(ts []columnar.Type) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.String()
	}
	return strings.Join(parts, ", ")
}

// matchSig reports whether args fit s. Pass 0 wants exact types, pass 1
// allows UNKNOWN for anything, pass 2 also BIGINT for DOUBLE. conv[i] is the
// type argument i must be converted to (Unknown: keep).
func matchSig(s Signature, args []columnar.Type, pass int) ([]columnar.Type, bool) {
	if s.Variadic {
		if len(args) < len(s.Args)-1 {
			return nil, false
		}
	} else if len(args) != len(s.Args) {
		return nil, false
	}
	var conv []columnar.Type
	for i, a := range args {
		want := s.Args[min(i, len(s.Args)-1)]
		if a == want {
			continue
		}
		switch {
		case pass >= 1 && a == columnar.Unknown:
		case pass >= 2 && a == columnar.Int64 && want == columnar.Float64:
		default:
			return nil, false
		}
		if conv == nil {
			conv = make([]columnar.Type, len(args))
		}
		conv[i] = want
	}
	return conv, true
}

func wrapConv(impl ScalarFunc, conv []columnar.Type) ScalarFunc {
	if conv == nil {
		return impl
	}
	return func(args []*columnar.Column, n int, ctx *Context) (*columnar.Column, error) {
		cargs := make([]*columnar.Column, len(args))
		for i, a := range args {
			cargs[i] = a
			if conv[i] != columnar.Unknown && a.Type != conv[i] {
				c, err := Cast(a, conv[i], false)
				if err != nil {
					return nil, err
				}
				cargs[i] = c
			}
		}
		return impl(cargs, n, ctx)
	}
}

// ---- helpers shared by the implementations ----

// isConst reports whether c is a broadcast constant for n rows.
func isConst(c *columnar.Column, n int) bool { return n != 1 && colLen(c) == 1 }

// colLen is Column.Len that also works for UNKNOWN columns.
func colLen(c *columnar.Column) int {
	if c.Type == columnar.Unknown {
		return len(c.Nulls)
	}
	return c.Len()
}

// idx maps row i to the row of c holding its value (0 for constants).
func idx(c *columnar.Column, i int) int {
	if colLen(c) == 1 {
		return 0
	}
	return i
}

// null reports whether row i of c (broadcast-aware) is NULL.
func null(c *columnar.Column, i int) bool {
	if c.Nulls == nil {
		return false
	}
	return c.Nulls[idx(c, i)]
}

// NullColumn returns an all-NULL column of type t with n rows.
func NullColumn(t columnar.Type, n int) *columnar.Column {
	c := &columnar.Column{Type: t, Nulls: make([]bool, n)}
	for i := range c.Nulls {
		c.Nulls[i] = true
	}
	switch t {
	case columnar.Bool:
		c.Bools = make([]bool, n)
	case columnar.Int64, columnar.Timestamp, columnar.Date, columnar.Interval:
		c.Ints = make([]int64, n)
	case columnar.Float64:
		c.Floats = make([]float64, n)
	case columnar.String:
		c.Strs = make([]string, n)
	}
	return c
}

// unionNulls returns the NULL flags of a strict function's result: row i is
// NULL when any argument is. It returns nil when no argument has NULLs.
func unionNulls(args []*columnar.Column, n int) []bool {
	var out []bool
	for _, a := range args {
		if a.Nulls == nil {
			continue
		}
		if out == nil {
			out = make([]bool, n)
		}
		if colLen(a) == 1 && n != 1 {
			if a.Nulls[0] {
				for i := range out {
					out[i] = true
				}
			}
			continue
		}
		for i, v := range a.Nulls[:n] {
			out[i] = out[i] || v
		}
	}
	return out
}

func anyNull(args []*columnar.Column, i int) bool {
	for _, a := range args {
		if null(a, i) {
			return true
		}
	}
	return false
}

// rowFunc builds a strict ScalarFunc from a per-row function: NULL in any
// argument gives NULL without calling f. It is for the many functions
// whose cost is dominated by the work per row, not the loop.
func rowFunc(ret columnar.Type, f func(args []*columnar.Column, i int, out *columnar.Column, ctx *Context) error) ScalarFunc {
	return func(args []*columnar.Column, n int, ctx *Context) (*columnar.Column, error) {
		out := columnar.NewColumn(ret, n)
		for i := 0; i < n; i++ {
			if anyNull(args, i) {
				out.AppendNull()
				continue
			}
			if err := f(args, i, out, ctx); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
}

func str(c *columnar.Column, i int) string  { return c.Strs[idx(c, i)] }
func i64(c *columnar.Column, i int) int64   { return c.Ints[idx(c, i)] }
func f64(c *columnar.Column, i int) float64 { return c.Floats[idx(c, i)] }
func boolv(c *columnar.Column, i int) bool  { return c.Bools[idx(c, i)] }
func constStr(c *columnar.Column) (string, bool) {
	if colLen(c) == 1 && !c.IsNull(0) && c.Type == columnar.String {
		return c.Strs[0], true
	}
	return "", false
}

// Short type names for the signature tables.
const (
	kB  = columnar.Bool
	kI  = columnar.Int64
	kF  = columnar.Float64
	kS  = columnar.String
	kTS = columnar.Timestamp
	kD  = columnar.Date
	kIV = columnar.Interval
	kU  = columnar.Unknown
)
