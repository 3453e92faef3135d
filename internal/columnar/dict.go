package columnar

// Dict is the dictionary of a dictionary-coded VARCHAR column: the
// distinct strings its codes index, as a Parquet column chunk stores them.
// A Dict is immutable once attached to a column, so readers may remember
// facts about it keyed by its address (e.g. which group each entry
// belongs to) for as long as they keep the pointer.
type Dict struct {
	strs []string
}

// NewDict returns a dictionary of strs; the caller must not modify strs
// afterwards.
func NewDict(strs []string) *Dict { return &Dict{strs: strs} }

// Len reports the number of entries.
func (d *Dict) Len() int { return len(d.strs) }

// Strs returns the entries; callers must not modify them.
func (d *Dict) Strs() []string { return d.strs }

// SetCodes records that row i of the VARCHAR column c, when not NULL, is
// d.Strs()[codes[i]]; the producer has already filled c.Strs accordingly
// (readers that know nothing of codes read the strings). Every code, NULL
// rows' included, must be in [0, d.Len()); len(codes) must be c.Len(). The
// column keeps codes (no copy): the producer must not change them while
// c is in use.
func (c *Column) SetCodes(codes []int32, d *Dict) {
	c.dropCodes()
	if c.Type != String || d == nil || len(codes) != len(c.Strs) || len(codes) == 0 {
		return
	}
	c.codes, c.dict, c.strs0 = codes, d, &c.Strs[0]
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
	if c.dict == nil || c.Type != String || len(c.Strs) != len(c.codes) || len(c.Strs) == 0 || &c.Strs[0] != c.strs0 {
		return nil, nil
	}
	return c.codes, c.dict
}

// dropCodes forgets the dictionary codes.
func (c *Column) dropCodes() { c.codes, c.dict, c.strs0 = nil, nil, nil }

// dropAnnotations forgets codes and hold: the column's rows are about to
// be rewritten in place, so neither describes them any more.
func (c *Column) dropAnnotations() {
	if c.dict != nil || c.hold != nil {
		c.dropCodes()
		c.hold = nil
	}
}
