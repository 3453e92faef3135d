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
