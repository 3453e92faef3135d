package fn_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
)

// The geospatial cases with fixed answers live in testdata/geo.txt (run by
// TestScripts); these tests cover what a script cannot: varying rows, NULL
// rows inside a column, properties of the WKT round trip.

func call(t testing.TB, name string, args []*columnar.Column, n int) (*columnar.Column, error) {
	t.Helper()
	types := make([]columnar.Type, len(args))
	for i, a := range args {
		types[i] = a.Type
	}
	_, impl, err := fn.Resolve(name, types)
	if err != nil {
		t.Fatal(err)
	}
	return impl(args, n, fn.NewContext(scriptNow))
}

func floats(vs ...float64) *columnar.Column {
	c := columnar.NewColumn(columnar.Float64, len(vs))
	for _, v := range vs {
		if math.IsNaN(v) {
			c.AppendNull()
			continue
		}
		c.AppendFloat(v)
	}
	return c
}

// TestSeedLocation is the seed's Athena projection,
// ST_AsText(ST_Point(latitude, longitude)), over a column of locations with
// a NULL latitude among them.
func TestSeedLocation(t *testing.T) {
	lat := floats(47.6, 45.5152, math.NaN(), 40.7128, 0)
	lon := floats(-122.3, -122.6784, 1, -74.006, -0.5)
	pts, err := call(t, "st_point", []*columnar.Column{lat, lon}, 5)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := call(t, "st_astext", []*columnar.Column{pts}, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"POINT (47.6 -122.3)", "POINT (45.5152 -122.6784)", "", "POINT (40.7128 -74.006)", "POINT (0 -0.5)"}
	for i, w := range want {
		if w == "" {
			if !txt.IsNull(i) {
				t.Errorf("row %d: want NULL, got %q", i, txt.Strs[i])
			}
			continue
		}
		if txt.IsNull(i) || txt.Strs[i] != w {
			t.Errorf("row %d: got %q, want %q", i, txt.Strs[i], w)
		}
	}
}

func TestGreatCircleSymmetricAndBounded(t *testing.T) {
	cases := []struct{ lat1, lon1, lat2, lon2 float64 }{
		{0, 0, 0, 90}, {90, 0, -90, 0}, {-33.9, 18.4, 51.5, -0.1}, {1e-9, 0, 0, 0}, {89.9, -180, 89.9, 180},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			ab, err := call(t, "great_circle_distance", []*columnar.Column{floats(c.lat1), floats(c.lon1), floats(c.lat2), floats(c.lon2)}, 1)
			if err != nil {
				t.Fatal(err)
			}
			ba, err := call(t, "great_circle_distance", []*columnar.Column{floats(c.lat2), floats(c.lon2), floats(c.lat1), floats(c.lon1)}, 1)
			if err != nil {
				t.Fatal(err)
			}
			d := ab.Floats[0]
			if math.Abs(d-ba.Floats[0]) > 1e-9 || d < 0 || d > math.Pi*6371.01+1e-9 {
				t.Fatalf("d(a,b)=%v d(b,a)=%v", d, ba.Floats[0])
			}
		})
	}
	// A quarter of the equator is a quarter of the circumference.
	q, _ := call(t, "great_circle_distance", []*columnar.Column{floats(0), floats(0), floats(0), floats(90)}, 1)
	if want := math.Pi / 2 * 6371.01; math.Abs(q.Floats[0]-want) > 1e-9 {
		t.Fatalf("quarter equator %v, want %v", q.Floats[0], want)
	}
}

// TestContainsWithinGrid checks ST_Contains against an independent answer
// for a square with a square hole, over a grid of points that includes the
// boundaries.
func TestContainsWithinGrid(t *testing.T) {
	const poly = "POLYGON ((0 0, 8 0, 8 8, 0 8, 0 0), (2 2, 4 2, 4 4, 2 4, 2 2))"
	want := func(x, y float64) bool {
		inShell := x > 0 && x < 8 && y > 0 && y < 8
		inHoleClosure := x >= 2 && x <= 4 && y >= 2 && y <= 4
		return inShell && !inHoleClosure
	}
	polys := columnar.NewColumn(columnar.String, 1)
	polys.AppendString(poly)
	pts := columnar.NewColumn(columnar.String, 0)
	var exp []bool
	for x := -1.0; x <= 9; x += 0.5 {
		for y := -1.0; y <= 9; y += 0.5 {
			pts.AppendString(fmt.Sprintf("POINT (%v %v)", x, y))
			exp = append(exp, want(x, y))
		}
	}
	n := pts.Len()
	got, err := call(t, "st_contains", []*columnar.Column{polys, pts}, n)
	if err != nil {
		t.Fatal(err)
	}
	within, err := call(t, "st_within", []*columnar.Column{pts, polys}, n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range exp {
		if got.Bools[i] != exp[i] || within.Bools[i] != exp[i] {
			t.Errorf("%s: contains=%v within=%v, want %v", pts.Strs[i], got.Bools[i], within.Bools[i], exp[i])
		}
	}
}

func TestBadWKTNamesFunctionAndInput(t *testing.T) {
	for _, name := range []string{"st_geometryfromtext", "st_astext", "st_x", "st_envelope", "st_geometrytype", "to_spherical_geography"} {
		in := columnar.NewColumn(columnar.String, 1)
		in.AppendString("POINT (1 2 oops")
		_, err := call(t, name, []*columnar.Column{in}, 1)
		if err == nil || !strings.HasPrefix(err.Error(), name+":") || !strings.Contains(err.Error(), `"POINT (1 2 oops"`) {
			t.Errorf("%s: error %v should name the function and the input", name, err)
		}
	}
}

// FuzzGeometryFromText: any input either fails with an error naming the
// function or yields WKT that parses again to the same text.
func FuzzGeometryFromText(f *testing.F) {
	for _, s := range []string{
		"POINT (1 2)", "point(1 2)", "  POINT  ( 1.5   2e3 ) ", "POINT EMPTY", "MULTIPOINT (1 2, 3 4)", "MULTIPOINT ((1 2), (3 4))",
		"LINESTRING (0 0, 1 1)", "LINESTRING EMPTY", "POLYGON ((0 0, 4 0, 4 4, 0 0), (1 1, 2 1, 2 2, 1 1))", "POLYGON ((0 0,1 0))",
		"MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))", "MULTILINESTRING ((0 0, 1 1), (2 2, 3 3))",
		"GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (0 0, 1 1))", "GEOMETRYCOLLECTION EMPTY", "POINT (nan 1)", "POINT (1)", "((((", "MULTIPOINT(",
		"SRID=4326;POINT (1 2)", "GEOMETRYCOLLECTION (POINT (1 2), GEOMETRYCOLLECTION (POINT EMPTY))",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := columnar.NewColumn(columnar.String, 1)
		in.AppendString(s)
		out, err := call(t, "st_geometryfromtext", []*columnar.Column{in}, 1)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "st_geometryfromtext: ") {
				t.Fatalf("error does not name the function: %v", err)
			}
			return
		}
		w := out.Strs[0]
		in2 := columnar.NewColumn(columnar.String, 1)
		in2.AppendString(w)
		again, err := call(t, "st_geometryfromtext", []*columnar.Column{in2}, 1)
		if err != nil {
			t.Fatalf("%q -> %q does not parse again: %v", s, w, err)
		}
		if again.Strs[0] != w {
			t.Fatalf("%q -> %q -> %q", s, w, again.Strs[0])
		}
		// The predicates and distance must not fail on what parses.
		for _, name := range []string{"st_contains", "st_distance", "st_intersects"} {
			if _, err := call(t, name, []*columnar.Column{in2, in2}, 1); err != nil && !strings.Contains(err.Error(), "not supported") {
				t.Fatalf("%s(%q, itself): %v", name, w, err)
			}
		}
	})
}

// go test ./internal/sql/fn -run '^$' -bench Geo -benchmem
func BenchmarkGeo(b *testing.B) {
	const n = 1024
	lat, lon := columnar.NewColumn(columnar.Float64, n), columnar.NewColumn(columnar.Float64, n)
	for i := 0; i < n; i++ {
		lat.AppendFloat(47 + float64(i)/1000)
		lon.AppendFloat(-122 - float64(i)/1000)
	}
	pts, _ := call(b, "st_point", []*columnar.Column{lat, lon}, n)
	poly := columnar.NewColumn(columnar.String, 1)
	poly.AppendString("POLYGON ((47 -123, 48 -123, 48 -122, 47 -122, 47 -123))")
	b.Run("fn=st_astext_st_point", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, _ := call(b, "st_point", []*columnar.Column{lat, lon}, n)
			if _, err := call(b, "st_astext", []*columnar.Column{p}, n); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("fn=st_contains", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := call(b, "st_contains", []*columnar.Column{poly, pts}, n); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "rows/s")
	})
}
