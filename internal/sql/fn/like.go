package fn

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/internal/columnar"
)

func init() {
	register("like", sig(kB, likeFn(false), kS, kS), sig(kB, likeFn(false), kS, kS, kS))
	register("ilike", sig(kB, likeFn(true), kS, kS), sig(kB, likeFn(true), kS, kS, kS))
	register("not like", sig(kB, negate(likeFn(false)), kS, kS), sig(kB, negate(likeFn(false)), kS, kS, kS))
	register("not ilike", sig(kB, negate(likeFn(true)), kS, kS), sig(kB, negate(likeFn(true)), kS, kS, kS))
}

// negate wraps a BOOLEAN function with NOT (NULL stays NULL).
func negate(f ScalarFunc) ScalarFunc {
	return func(a []*columnar.Column, n int, c *Context) (*columnar.Column, error) {
		r, err := f(a, n, c)
		if err != nil {
			return nil, err
		}
		return Not([]*columnar.Column{r}, n, c)
	}
}

// LikePattern is a compiled SQL LIKE pattern: '%' matches any run of
// characters, '_' exactly one character (not byte), an optional escape
// character makes the next '%', '_' or escape literal.
type LikePattern struct {
	kind     likeKind
	lit      string      // for exact/prefix/suffix/contains
	segs     [][]likeTok // general: segments between '%'
	anchorL  bool        // the pattern does not start with '%'
	anchorR  bool        // the pattern does not end with '%'
	fold     bool
	segRunes []int
}

type likeKind uint8

const (
	likeGeneral likeKind = iota
	likeExact
	likePrefix
	likeSuffix
	likeContains
	likeAll
)

type likeTok struct {
	any1 bool   // '_'
	lit  string // literal run
}

// CompileLike compiles pattern. escape is 0 for none. fold makes the match
// case-insensitive (ILIKE).
func CompileLike(pattern string, escape rune, fold bool) (*LikePattern, error) {
	if fold {
		pattern = strings.ToLower(pattern)
	}
	p := &LikePattern{fold: fold}
	var segs [][]likeTok
	var cur []likeTok
	var lit strings.Builder
	flushLit := func() {
		if lit.Len() > 0 {
			cur = append(cur, likeTok{lit: lit.String()})
			lit.Reset()
		}
	}
	pct := 0
	startsPct, endsPct := false, false
	for i := 0; i < len(pattern); {
		r, w := utf8.DecodeRuneInString(pattern[i:])
		if escape != 0 && r == escape {
			i += w
			if i >= len(pattern) {
				return nil, fmt.Errorf("LIKE pattern %q ends with the escape character", pattern)
			}
			r2, w2 := utf8.DecodeRuneInString(pattern[i:])
			if r2 != '%' && r2 != '_' && r2 != escape {
				return nil, fmt.Errorf("LIKE pattern %q: escape character must be followed by '%%', '_' or itself", pattern)
			}
			lit.WriteString(pattern[i : i+w2])
			i += w2
			endsPct = false
			continue
		}
		switch r {
		case '%':
			if i == 0 {
				startsPct = true
			}
			flushLit()
			segs = append(segs, cur)
			cur = nil
			pct++
			endsPct = true
		case '_':
			flushLit()
			cur = append(cur, likeTok{any1: true})
			endsPct = false
		default:
			lit.WriteString(pattern[i : i+w])
			endsPct = false
		}
		i += w
	}
	flushLit()
	segs = append(segs, cur)
	// Drop empty segments between consecutive '%'.
	var kept [][]likeTok
	for i, s := range segs {
		if len(s) > 0 || i == 0 || i == len(segs)-1 {
			kept = append(kept, s)
		}
	}
	segs = kept
	p.anchorL, p.anchorR = !startsPct, !endsPct
	hasUnderscore := false
	for _, s := range segs {
		for _, t := range s {
			if t.any1 {
				hasUnderscore = true
			}
		}
	}
	single := func(s []likeTok) (string, bool) {
		if len(s) == 0 {
			return "", true
		}
		if len(s) == 1 && !s[0].any1 {
			return s[0].lit, true
		}
		return "", false
	}
	if !hasUnderscore {
		switch {
		case pct == 0:
			p.kind, p.lit = likeExact, mustSingle(single(segs[0]))
			return p, nil
		case len(segs) == 2 && len(segs[0]) == 0 && len(segs[1]) == 0:
			p.kind = likeAll
			return p, nil
		case len(segs) == 2 && len(segs[1]) == 0 && p.anchorL:
			p.kind, p.lit = likePrefix, mustSingle(single(segs[0]))
			return p, nil
		case len(segs) == 2 && len(segs[0]) == 0 && p.anchorR:
			p.kind, p.lit = likeSuffix, mustSingle(single(segs[1]))
			return p, nil
		case len(segs) == 3 && len(segs[0]) == 0 && len(segs[2]) == 0:
			p.kind, p.lit = likeContains, mustSingle(single(segs[1]))
			return p, nil
		}
	}
	p.kind = likeGeneral
	p.segs = segs
	p.segRunes = make([]int, len(segs))
	for i, s := range segs {
		for _, t := range s {
			if t.any1 {
				p.segRunes[i]++
			} else {
				p.segRunes[i] += utf8.RuneCountInString(t.lit)
			}
		}
	}
	return p, nil
}

func mustSingle(s string, _ bool) string { return s }

// Match reports whether s matches the pattern.
func (p *LikePattern) Match(s string) bool {
	if p.fold {
		s = strings.ToLower(s)
	}
	switch p.kind {
	case likeExact:
		return s == p.lit
	case likeAll:
		return true
	case likePrefix:
		return strings.HasPrefix(s, p.lit)
	case likeSuffix:
		return strings.HasSuffix(s, p.lit)
	case likeContains:
		return strings.Contains(s, p.lit)
	}
	segs := p.segs
	pos, end := 0, len(s)
	if p.anchorR {
		// The last segment has a fixed number of characters: it must
		// match exactly that many characters before the end.
		last := segs[len(segs)-1]
		start := end
		for k := 0; k < p.segRunes[len(segs)-1]; k++ {
			if start == 0 {
				return false
			}
			_, w := utf8.DecodeLastRuneInString(s[:start])
			start -= w
		}
		if n, ok := matchSeg(last, s[start:]); !ok || n != end-start {
			return false
		}
		if len(segs) == 1 { // no '%': the whole string is the segment
			return start == 0
		}
		end = start
		segs = segs[:len(segs)-1]
	}
	if p.anchorL {
		n, ok := matchSeg(segs[0], s[:end])
		if !ok {
			return false
		}
		pos = n
		segs = segs[1:]
		if len(segs) == 0 {
			return true // a '%' (or the end) follows the first segment
		}
	}
	for _, seg := range segs {
		if len(seg) == 0 {
			continue
		}
		found := false
		for q := pos; q <= end; {
			if n, ok := matchSeg(seg, s[q:end]); ok {
				pos = q + n
				found = true
				break
			}
			if q == end {
				break
			}
			_, w := utf8.DecodeRuneInString(s[q:end])
			q += w
		}
		if !found {
			return false
		}
	}
	return true
}

// matchSeg matches seg at the start of s and returns the bytes consumed.
func matchSeg(seg []likeTok, s string) (int, bool) {
	p := 0
	for _, t := range seg {
		if t.any1 {
			if p >= len(s) {
				return 0, false
			}
			_, w := utf8.DecodeRuneInString(s[p:])
			p += w
			continue
		}
		if !strings.HasPrefix(s[p:], t.lit) {
			return 0, false
		}
		p += len(t.lit)
	}
	return p, true
}

type likeKey struct {
	escape rune
	fold   bool
}

func likeFn(fold bool) ScalarFunc {
	return func(args []*columnar.Column, n int, ctx *Context) (*columnar.Column, error) {
		s, pat := args[0], args[1]
		compile := func(i int) (*LikePattern, error) {
			var esc rune
			if len(args) > 2 {
				e := str(args[2], i)
				if utf8.RuneCountInString(e) != 1 {
					return nil, errors.New("LIKE escape must be a single character")
				}
				esc, _ = utf8.DecodeRuneInString(e)
			}
			key := fmt.Sprintf("like:%v:%d:", fold, esc)
			v, err := ctx.cached(key, str(pat, i), func(p string) (any, error) { return CompileLike(p, esc, fold) })
			if err != nil {
				return nil, err
			}
			return v.(*LikePattern), nil
		}
		out := make([]bool, n)
		nulls := unionNulls(args, n)
		var constPat *LikePattern
		if isConst(pat, n) && (len(args) < 3 || isConst(args[2], n)) && !anyNull(args[1:], 0) {
			var err error
			if constPat, err = compile(0); err != nil {
				return nil, err
			}
		}
		for i := range out {
			if nulls != nil && nulls[i] {
				continue
			}
			m := constPat
			if m == nil {
				var err error
				if m, err = compile(i); err != nil {
					return nil, err
				}
			}
			out[i] = m.Match(str(s, i))
		}
		return &columnar.Column{Type: columnar.Bool, Bools: out, Nulls: nulls}, nil
	}
}
