package columnar

// Dict is the dictionary of a dictionary-coded VARCHAR column: the
// distinct strings its codes index, as a Parquet column chunk stores them.
// A Dict is immutable once attached to a column, so readers may remember
// facts about it keyed by its address (e.g. which group each entry
// belongs to) for as long as they keep the pointer.
//
// A producer that reads many dictionaries over mostly the same strings
// (a lake scan: one per Parquet column chunk) may also number the strings
// in a DictSpace: every dictionary of the space gives each entry the id
// of its string, equal strings equal ids. Readers then carry facts from
// one dictionary to the next by id (an array index) instead of hashing
// every entry of every dictionary again.
type Dict struct {
	strs  []string // by code; by id when numbered
	ids   []int32  // numbered: entry code is strs[ids[code]]
	space *DictSpace
}

// DictSpace identifies one numbering of strings (see Dict). It carries no
// data; only its address matters. Ids of a space are dense: the producer
// numbers the distinct strings 0, 1, 2, ..., so readers may index slices
// by them (growing them as larger ids appear).
type DictSpace struct{ _ byte } // not zero-sized: distinct spaces have distinct addresses

// NewDictSpace returns a new numbering.
func NewDictSpace() *DictSpace { return &DictSpace{} }

// NewDict returns a dictionary of strs (entry code is strs[code]); the
// caller must not modify strs afterwards.
func NewDict(strs []string) *Dict { return &Dict{strs: strs} }

// NewDictIDs returns the dictionary whose entry code is string number
// ids[code] of space, which is byID[ids[code]]. The producer guarantees
// that within space equal ids mean equal strings and equal strings equal
// ids, and that every id indexes byID (a space's strings by id, so one
// slice can serve all its dictionaries). It returns nil when space is nil
// or an id is out of range. The caller must not modify byID[:max id] or
// ids afterwards.
func NewDictIDs(byID []string, ids []int32, space *DictSpace) *Dict {
	if space == nil {
		return nil
	}
	for _, id := range ids {
		if uint(id) >= uint(len(byID)) {
			return nil
		}
	}
	return &Dict{strs: byID, ids: ids, space: space}
}

// Len reports the number of entries.
func (d *Dict) Len() int {
	if d.space != nil {
		return len(d.ids)
	}
	return len(d.strs)
}

// Str returns entry code, which must be in [0, Len()).
func (d *Dict) Str(code int32) string {
	if d.space != nil {
		return d.strs[d.ids[code]]
	}
	return d.strs[code]
}

// IDs returns the ids of the entries in their space, or nil, nil when the
// dictionary has none; callers must not modify them.
func (d *Dict) IDs() ([]int32, *DictSpace) { return d.ids, d.space }

// SetCodes records that row i of the VARCHAR column c, when not NULL, is
// d.Str(codes[i]); the producer has already filled c.Strs accordingly
// (readers that know nothing of codes read the strings). Every code, NULL
// rows' included, must be in [0, d.Len()); len(codes) must be c.Len(). The
// column keeps codes (no copy): the producer must not change them while
// c is in use.
func (c *Column) SetCodes(codes []int32, d *Dict) {
	c.dropCodes()
	if c.Type != String || d == nil || len(codes) != len(c.Strs) || len(codes) == 0 {
		return
	}
	c.annotate(func(a *annotations) { a.codes, a.dict, a.strs0 = codes, d, &c.Strs[0] })
}

// Codes returns the column's dictionary codes and dictionary, or nil, nil
// when it has none. Codes set by SetCodes are reported only while Strs
// has their length and still starts where it did: an append, a view of
// other rows or a reallocation loses them, and Reset and SpreadLevels drop
// them. (Writing Strs[i] in place is the one change they cannot see; the
// package's rule that readers do not modify columns they are handed rules
// it out.) Readers must check Nulls first: a NULL row's code means
// nothing.
func (c *Column) Codes() ([]int32, *Dict) {
	a := c.ann
	if a == nil || a.dict == nil || c.Type != String || len(c.Strs) != len(a.codes) || len(c.Strs) == 0 || &c.Strs[0] != a.strs0 {
		return nil, nil
	}
	return a.codes, a.dict
}

// dropCodes forgets the dictionary codes.
func (c *Column) dropCodes() {
	if c.ann != nil && c.ann.dict != nil {
		c.annotate(func(a *annotations) { a.codes, a.dict, a.strs0 = nil, nil, nil })
	}
}

// dropAnnotations forgets codes and hold: the column's rows are about to
// be rewritten in place, so neither describes them any more.
func (c *Column) dropAnnotations() {
	c.ann = nil
}
