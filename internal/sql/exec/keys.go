package exec

import (
	"encoding/binary"
	"math"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
)

// groupTable maps key tuples to dense ids 0, 1, 2, ... in order of first
// appearance and keeps one copy of each tuple. NULL is a key value like any
// other (equal to NULL); DOUBLE keys group -0 with 0 and all NaNs together.
// Aggregate uses it for groups, Distinct for rows, Join for its build side.
type groupTable struct {
	types []columnar.Type
	keys  []*columnar.Column
	n     int
	mode  int
	ints  map[int64]int32
	strs  map[string]int32
	null  int32 // group of the NULL key in single-key modes; -1 none
	// modeStr over dictionary-coded columns: dictG[code] is 1 + the group
	// of entry code of dict, 0 when not looked up yet. Holding the *Dict
	// keeps it (immutable) alive, so the address cannot be reused. dicts
	// keeps the arrays of a few recent dictionaries (scans read several
	// files at once, each with its own).
	dict  *columnar.Dict
	dictG []int32
	dicts map[*columnar.Dict][]int32
	// Dictionaries numbered in a columnar.DictSpace: ids and space are the
	// current one's, idG[id] is 1 + the group of string id of its space (0:
	// not known yet), so an entry whose string was met in an earlier
	// dictionary costs two array lookups, not a hash of the string. spaces
	// keeps the arrays by space (a lake scan has one).
	ids    []int32
	space  *columnar.DictSpace
	idG    *[]int32
	spaces map[*columnar.DictSpace]*[]int32
	// pure is set while every group but the NULL one was made from
	// dictionaries of this one space: equal ids being equal strings, a
	// string whose id has no group yet is a new group, no hashing needed,
	// and strs is left empty until a lookup by string needs it (fillStrs).
	// pureIDs[g] is the id of group g's string (-1: the NULL group).
	pure    *columnar.DictSpace
	pureIDs []int32
	free    [][]int32 // dictG arrays of forgotten dictionaries, for reuse
	buf     []byte
	bytes   int64 // memory held by maps and keys, approximately
}

const (
	modeNone  = iota // no keys: every row is group 0
	modeInt          // one key stored in Ints/Floats/Bools, normalised to int64
	modeStr          // one VARCHAR key
	modeBytes        // several keys, encoded
)

func newGroupTable(types []columnar.Type) *groupTable {
	t := &groupTable{types: types, null: -1}
	for _, ty := range types {
		t.keys = append(t.keys, columnar.NewColumn(ty, 0))
	}
	switch {
	case len(types) == 0:
		t.mode = modeNone
	case len(types) == 1 && types[0] == columnar.String:
		t.mode = modeStr
		t.strs = make(map[string]int32)
	case len(types) == 1 && types[0] != columnar.Unknown:
		t.mode = modeInt
		t.ints = make(map[int64]int32)
	default:
		t.mode = modeBytes
		t.strs = make(map[string]int32)
	}
	return t
}

// normFloat maps a DOUBLE to an int64 that is equal exactly when the
// values group together.
func normFloat(f float64) int64 {
	if f == 0 {
		return 0
	}
	if f != f {
		return 0x7ff8000000000001
	}
	return int64(math.Float64bits(f))
}

func intKey(c *columnar.Column, i int) int64 {
	switch c.Type {
	case columnar.Float64:
		return normFloat(c.Floats[i])
	case columnar.Bool:
		if c.Bools[i] {
			return 1
		}
		return 0
	}
	return c.Ints[i]
}

func appendKey(buf []byte, c *columnar.Column, i int) []byte {
	if c.IsNull(i) || c.Type == columnar.Unknown {
		return append(buf, 0)
	}
	buf = append(buf, 1)
	switch c.Type {
	case columnar.String:
		buf = binary.AppendUvarint(buf, uint64(len(c.Strs[i])))
		return append(buf, c.Strs[i]...)
	case columnar.Bool:
		if c.Bools[i] {
			return append(buf, 1)
		}
		return append(buf, 0)
	}
	return binary.LittleEndian.AppendUint64(buf, uint64(intKey(c, i)))
}

func (t *groupTable) newGroup(cols []*columnar.Column, i int) int32 {
	g := int32(t.n)
	t.n++
	for k, c := range cols {
		t.keys[k].AppendFrom(c, i)
		t.bytes += 9
		if c.Type == columnar.String {
			t.bytes += int64(len(c.Strs[i])) + 16
		}
	}
	t.bytes += 24 // map entry
	return g
}

// find sets gids[i] to the group of row i of cols (n rows each). With
// insert, unseen keys get new groups; without, they get -1. Rows whose gid
// is already negative on entry are skipped when skipNeg is set.
func (t *groupTable) find(cols []*columnar.Column, n int, gids []int32, insert, skipNeg bool) {
	switch t.mode {
	case modeNone:
		if t.n == 0 && insert && n > 0 {
			t.n = 1
		}
		for i := 0; i < n; i++ {
			if skipNeg && gids[i] < 0 {
				continue
			}
			if t.n == 0 {
				gids[i] = -1
			} else {
				gids[i] = 0
			}
		}
	case modeInt:
		c := cols[0]
		for i := 0; i < n; i++ {
			if skipNeg && gids[i] < 0 {
				continue
			}
			if c.IsNull(i) {
				if t.null < 0 && insert {
					t.null = t.newGroup(cols, i)
				}
				gids[i] = t.null
				continue
			}
			k := intKey(c, i)
			g, ok := t.ints[k]
			if !ok {
				if !insert {
					gids[i] = -1
					continue
				}
				g = t.newGroup(cols, i)
				t.ints[k] = g
			}
			gids[i] = g
		}
	case modeStr:
		c := cols[0]
		if codes, d := c.Codes(); d != nil && len(codes) >= n {
			t.findCodes(c, codes[:n], d, gids, insert, skipNeg)
			return
		}
		t.fillStrs()
		for i := 0; i < n; i++ {
			if skipNeg && gids[i] < 0 {
				continue
			}
			if c.IsNull(i) {
				if t.null < 0 && insert {
					t.null = t.newGroup(cols, i)
				}
				gids[i] = t.null
				continue
			}
			g, ok := t.strs[c.Strs[i]]
			if !ok {
				if !insert {
					gids[i] = -1
					continue
				}
				g = t.newGroup(cols, i)
				t.strs[c.Strs[i]] = g
			}
			gids[i] = g
		}
	default:
		for i := 0; i < n; i++ {
			if skipNeg && gids[i] < 0 {
				continue
			}
			t.buf = t.buf[:0]
			for _, c := range cols {
				t.buf = appendKey(t.buf, c, i)
			}
			g, ok := t.strs[string(t.buf)]
			if !ok {
				if !insert {
					gids[i] = -1
					continue
				}
				g = t.newGroup(cols, i)
				t.strs[string(t.buf)] = g
				t.bytes += int64(len(t.buf))
			}
			gids[i] = g
		}
	}
}

// findCodes is find for one dictionary-coded VARCHAR key: each entry of
// the dictionary is looked up once per dictionary (findEntry: by its id
// when it has one, by its string otherwise), then rows map to groups by
// their codes without hashing strings.
func (t *groupTable) findCodes(c *columnar.Column, codes []int32, d *columnar.Dict, gids []int32, insert, skipNeg bool) {
	if t.dict != d {
		t.switchDict(d)
	}
	dictG := t.dictG
	if c.Nulls == nil && !skipNeg {
		for i, code := range codes {
			g := dictG[code]
			if g == 0 {
				g = t.findEntry(code, insert) + 1
			}
			gids[i] = g - 1
		}
		return
	}
	for i, code := range codes {
		if skipNeg && gids[i] < 0 {
			continue
		}
		if c.IsNull(i) {
			t.findNull(c, i, gids, insert)
			continue
		}
		g := dictG[code]
		if g == 0 {
			g = t.findEntry(code, insert) + 1
		}
		gids[i] = g - 1
	}
}

// findNull sets gids[i] to the group of the NULL key (row i of c).
func (t *groupTable) findNull(c *columnar.Column, i int, gids []int32, insert bool) {
	if t.null < 0 && insert {
		t.null = t.newGroup([]*columnar.Column{c}, i)
		if t.pure != nil {
			t.pureIDs = append(t.pureIDs, -1)
		}
	}
	gids[i] = t.null
}

// maxDicts bounds the dictionaries a groupTable remembers.
const maxDicts = 8

// switchDict makes d the current dictionary: the groups found for its
// entries before if it is one of the recent ones, and for a numbered one
// the groups of its space's ids.
func (t *groupTable) switchDict(d *columnar.Dict) {
	if t.dicts == nil && t.n == 0 {
		// The first dictionary hints at how many groups to expect:
		// growing the map and the keys entry by entry costs more than
		// the lookups. (Groups of a numbered one may need no map: see
		// pure.)
		hint := min(d.Len(), 1<<16)
		if _, space := d.IDs(); space == nil && len(t.strs) == 0 {
			t.strs = make(map[string]int32, hint)
		}
		if k := t.keys[0]; k.Len() == 0 && cap(k.Strs) < hint {
			k.Strs = make([]string, 0, hint)
		}
	}
	t.dict, t.dictG = d, nil
	t.ids, t.space, t.idG = nil, nil, nil
	if ids, space := d.IDs(); space != nil {
		if t.spaces == nil {
			t.spaces = make(map[*columnar.DictSpace]*[]int32)
		}
		g := t.spaces[space]
		if g == nil {
			g = new([]int32)
			t.spaces[space] = g
		}
		t.ids, t.space, t.idG = ids, space, g
	}
	if t.dicts == nil {
		t.dicts = make(map[*columnar.Dict][]int32)
	}
	if g, ok := t.dicts[d]; ok {
		t.dictG = g
		return
	}
	if len(t.dicts) >= maxDicts {
		for k, g := range t.dicts {
			if len(t.free) < maxDicts {
				t.free = append(t.free, g)
			} else {
				t.bytes -= 4 * int64(cap(g))
			}
			delete(t.dicts, k)
		}
	}
	for k, g := range t.free {
		if cap(g) >= d.Len() {
			t.dictG = g[:d.Len()]
			clear(t.dictG)
			t.free[k] = t.free[len(t.free)-1]
			t.free = t.free[:len(t.free)-1]
			break
		}
	}
	if t.dictG == nil {
		t.dictG = make([]int32, d.Len())
		t.bytes += 4 * int64(cap(t.dictG))
	}
	t.dicts[d] = t.dictG
}

// findEntry looks up (and with insert, adds) the group of entry code of
// the current dictionary, and remembers it (in dictG, and by id
// for a numbered dictionary); -1 when absent and not inserted (not
// remembered: a later insert may add it).
func (t *groupTable) findEntry(code int32, insert bool) int32 {
	g := int32(-1)
	var id int32
	if t.ids != nil {
		id = t.ids[code]
		if idG := *t.idG; int(id) < len(idG) {
			g = idG[id] - 1
		}
		if g < 0 && t.pure == nil && len(t.strs) == 0 && t.n == t.nullGroups() {
			// No group made from a string yet: groups of this space
			// need no hashing (see pure).
			t.pure = t.space
			if t.null >= 0 {
				t.pureIDs = append(t.pureIDs[:0], -1)
			}
		}
	}
	switch {
	case g >= 0:
	case t.pure != nil && t.pure == t.space:
		if !insert {
			return -1
		}
		g = t.newStrGroup(t.dict.Str(code))
		t.pureIDs = append(t.pureIDs, id)
	default:
		t.fillStrs()
		s := t.dict.Str(code)
		var ok bool
		if g, ok = t.strs[s]; !ok {
			if !insert {
				return -1
			}
			g = t.newStrGroup(s)
			t.strs[s] = g
		}
	}
	t.dictG[code] = g + 1
	if t.ids != nil {
		t.setIDGroup(t.idG, id, g)
	}
	return g
}

// newStrGroup is newGroup for the one VARCHAR key s, not NULL. (A
// dictionary-coded key's group takes its string from the dictionary: the
// column's rows may not hold it, see codesOnlyScanner.)
func (t *groupTable) newStrGroup(s string) int32 {
	g := int32(t.n)
	t.n++
	t.keys[0].AppendString(s)
	t.bytes += 9 + int64(len(s)) + 16 + 24
	return g
}

// nullGroups is 1 when the NULL key has a group, else 0.
func (t *groupTable) nullGroups() int {
	if t.null >= 0 {
		return 1
	}
	return 0
}

// setIDGroup records that string id of the space whose array is idG is
// group g.
func (t *groupTable) setIDGroup(idG *[]int32, id, g int32) {
	a := *idG
	if int(id) >= len(a) {
		n := max(int(id)+1, 2*len(a), 1024)
		t.bytes += 4 * int64(n-len(a))
		a = append(a, make([]int32, n-len(a))...)
		*idG = a
	}
	a[id] = g + 1
}

// fillStrs ends pure mode: strs gets the strings of the groups made by id
// alone, so that lookups by string find them.
func (t *groupTable) fillStrs() {
	if t.pure == nil {
		return
	}
	keys := t.keys[0].Strs
	if len(t.strs) == 0 {
		t.strs = make(map[string]int32, len(t.pureIDs))
	}
	for g, id := range t.pureIDs {
		if id >= 0 {
			t.strs[keys[g]] = int32(g)
		}
	}
	t.pure, t.pureIDs = nil, nil
}

// mergeIDs sets to[g] to the group of p's group g, adding groups as
// needed, when both tables hold groups of the same one space made by id
// alone (see pure): then no string is hashed. It reports false, doing
// nothing, otherwise.
func (t *groupTable) mergeIDs(p *groupTable, to []int32) bool {
	if t.mode != modeStr || t.pure == nil || t.pure != p.pure || len(p.pureIDs) != p.n {
		return false
	}
	idG := t.spaces[t.pure]
	for g, id := range p.pureIDs {
		if id < 0 {
			if t.null < 0 {
				t.null = t.newGroup(p.keys, g)
				t.pureIDs = append(t.pureIDs, -1)
			}
			to[g] = t.null
			continue
		}
		if a := *idG; int(id) < len(a) && a[id] != 0 {
			to[g] = a[id] - 1
			continue
		}
		ng := t.newGroup(p.keys, g)
		t.pureIDs = append(t.pureIDs, id)
		t.setIDGroup(idG, id, ng)
		to[g] = ng
	}
	return true
}

// cmpRow orders row i of a against row j of b (same type), NULLs handled
// by the caller.
func cmpVal(a *columnar.Column, i int, b *columnar.Column, j int) int {
	switch a.Type {
	case columnar.Float64:
		return fn.CompareFloat(a.Floats[i], b.Floats[j])
	case columnar.String:
		x, y := a.Strs[i], b.Strs[j]
		if x < y {
			return -1
		} else if x > y {
			return 1
		}
		return 0
	case columnar.Bool:
		x, y := a.Bools[i], b.Bools[j]
		if x == y {
			return 0
		} else if y {
			return -1
		}
		return 1
	case columnar.Unknown:
		return 0
	}
	x, y := a.Ints[i], b.Ints[j]
	if x < y {
		return -1
	} else if x > y {
		return 1
	}
	return 0
}

// sortSpec is one evaluated sort key.
type sortSpec struct {
	desc, nullsFirst bool
}

// cmpKeys orders row i of keys a against row j of keys b under specs.
func cmpKeys(a []*columnar.Column, i int, b []*columnar.Column, j int, specs []sortSpec) int {
	for k, s := range specs {
		ca, cb := a[k], b[k]
		an, bn := ca.IsNull(i) || ca.Type == columnar.Unknown, cb.IsNull(j) || cb.Type == columnar.Unknown
		switch {
		case an && bn:
			continue
		case an:
			if s.nullsFirst {
				return -1
			}
			return 1
		case bn:
			if s.nullsFirst {
				return 1
			}
			return -1
		}
		c := cmpVal(ca, i, cb, j)
		if c != 0 {
			if s.desc {
				return -c
			}
			return c
		}
	}
	return 0
}

// equalKeys reports whether rows i and j of cols are equal, NULL = NULL.
func equalKeys(cols []*columnar.Column, i, j int) bool {
	for _, c := range cols {
		an, bn := c.IsNull(i), c.IsNull(j)
		if an || bn {
			if an != bn {
				return false
			}
			continue
		}
		if cmpVal(c, i, c, j) != 0 {
			return false
		}
	}
	return true
}
