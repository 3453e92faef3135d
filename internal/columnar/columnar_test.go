package columnar

import (
	"fmt"
	"testing"
)

func TestSpreadLevels(t *testing.T) {
	for _, c := range []struct {
		name   string
		col    *Column
		levels []byte
		nn     int
		want   string
	}{
		{"ints with NULLs after existing rows", &Column{Type: Int64, Ints: []int64{7, 1, 2}}, []byte{0, 1, 0, 1}, 2, "7 NULL 1 NULL 2"},
		{"strings, all NULL", &Column{Type: String}, []byte{0, 0}, 0, "NULL NULL"},
		{"floats, no levels", &Column{Type: Float64, Floats: []float64{1.5}}, nil, 1, "1.5"},
		{"bools, trailing value", &Column{Type: Bool, Bools: []bool{true}}, []byte{0, 1}, 1, "NULL true"},
	} {
		start := c.col.Len() - c.nn
		c.col.SpreadLevels(c.levels, start, c.nn)
		got := ""
		for i := 0; i < c.col.Len(); i++ {
			if i > 0 {
				got += " "
			}
			if c.col.IsNull(i) {
				got += "NULL"
			} else {
				got += fmt.Sprint(c.col.Value(i))
			}
		}
		if got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestCodesStale checks that dictionary codes vanish once a column
// changes, however it is changed.
func TestCodesStale(t *testing.T) {
	d := NewDict([]string{"a", "b"})
	mk := func() *Column {
		c := NewColumn(String, 4)
		c.AppendString("b")
		c.AppendString("a")
		c.SetCodes([]int32{1, 0}, d)
		c.SetHold(NewHold(nil))
		return c
	}
	for _, x := range []struct {
		name   string
		change func(c *Column) *Column
		codes  bool
	}{
		{"unchanged", func(c *Column) *Column { return c }, true},
		{"append", func(c *Column) *Column { c.AppendString("a"); return c }, false},
		{"append null", func(c *Column) *Column { c.AppendNull(); return c }, false},
		{"reset", func(c *Column) *Column { c.Reset(); c.AppendString("x"); c.AppendString("y"); return c }, false},
		{"reslice", func(c *Column) *Column { v := *c; v.Strs = v.Strs[1:]; return &v }, false},
		{"shorter view", func(c *Column) *Column { v := *c; v.Strs = v.Strs[:1]; return &v }, false},
		{"direct append", func(c *Column) *Column {
			c.Strs = append(c.Strs, "z")
			return c
		}, false},
		{"spread levels", func(c *Column) *Column { c.SpreadLevels(nil, 0, 2); return c }, false},
	} {
		c := x.change(mk())
		codes, dict := c.Codes()
		if (dict != nil) != x.codes {
			t.Errorf("%s: codes %v, want present=%v", x.name, codes, x.codes)
		}
		if dict != nil {
			for i, code := range codes {
				if dict.Str(code) != c.Strs[i] {
					t.Errorf("%s: row %d code %d is %q, string %q", x.name, i, code, dict.Str(code), c.Strs[i])
				}
			}
		}
	}
}

// TestHold checks the reference counting: release runs once, after the
// producer's reference and every retained one are dropped.
func TestHold(t *testing.T) {
	runs := 0
	h := NewHold(func() { runs++ })
	c := &Column{Type: Float64, Floats: []float64{1}}
	if c.Retain() != nil {
		t.Fatal("Retain without a hold")
	}
	c.SetHold(h)
	r1, r2 := c.Retain(), c.Retain()
	if r1 != h || r2 != h {
		t.Fatal("Retain did not return the hold")
	}
	h.Release() // the producer's
	r1.Release()
	if runs != 0 {
		t.Fatal("released while retained")
	}
	r2.Release()
	if runs != 1 {
		t.Fatalf("release ran %d times", runs)
	}
	if c.Retain() != nil {
		t.Fatal("Retain after the last release")
	}
	h.Release()
	if runs != 1 {
		t.Fatalf("release ran %d times after an extra Release", runs)
	}
	c.Reset()
	if c.ann != nil && c.ann.hold != nil {
		t.Fatal("a reset column kept its hold")
	}
}

// TestAnnotationsCopied: a copy of a column keeps what it had when copied,
// whatever is later set on or dropped from the original.
func TestAnnotationsCopied(t *testing.T) {
	c := &Column{Type: String, Strs: []string{"a", "b"}}
	c.SetCodes([]int32{0, 1}, NewDict([]string{"a", "b"}))
	h := NewHold(nil)
	c.SetHold(h)
	cp := *c
	c.dropCodes()
	c.SetHold(nil)
	if codes, _ := cp.Codes(); len(codes) != 2 || cp.ann.hold != h {
		t.Fatalf("the copy lost its annotations: %v %v", codes, cp.ann)
	}
	if codes, _ := c.Codes(); codes != nil || c.ann != nil {
		t.Fatalf("the original kept annotations: %v %v", codes, c.ann)
	}
}
