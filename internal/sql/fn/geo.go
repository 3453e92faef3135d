package fn

// Geospatial functions in the style of Athena/Trino, built on paulmach/orb.
//
// Representation: the engine's columnar types have no geometry type, so a
// geometry value is a VARCHAR holding its WKT, exactly as ST_AsText prints
// it (`POINT (1 2)`, with a space after the type name as Trino prints it).
// Every function parses its geometry arguments again; the parse costs
// about a microsecond for a point, which is acceptable next to the joins
// these functions appear in, and it keeps the functions free of any shared
// cache. A spherical geography (to_spherical_geography) is the same WKT
// behind an EWKT-style "SRID=4326;" prefix, so that ST_Distance can tell the
// two apart and measure great-circle metres for geographies; ST_AsText and
// to_geometry drop the prefix.
//
// Distances:
//   - ST_Distance(geometry, geometry): planar (Cartesian) distance in the
//     units of the coordinates; 0 when the geometries intersect.
//   - ST_Distance(to_spherical_geography(a), to_spherical_geography(b)):
//     great-circle distance in metres between two points given as
//     (longitude, latitude), as in Trino.
//   - great_circle_distance(lat1, lon1, lat2, lon2): great-circle distance
//     in KILOMETRES, as Trino/Athena define it (the name is Athena's, so is
//     the unit). Both use a sphere of radius 6371.01 km, Trino's value.
//
// ST_Contains/ST_Within follow OGC semantics for polygonal containers
// (holes respected; a point on the boundary is not contained) and for point
// containers; a line containing anything but points is not supported and
// reports so. Errors for bad WKT name the function and (a prefix of) the
// input.

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkt"
	"github.com/paulmach/orb/planar"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// earthRadiusKm is Trino's sphere for great_circle_distance and spherical
// ST_Distance.
const earthRadiusKm = 6371.01

// sphericalPrefix marks a VARCHAR geometry as a spherical geography.
const sphericalPrefix = "SRID=4326;"

func init() {
	register("st_point", sig(kS, rowFunc(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		x, y := f64(a[0], i), f64(a[1], i)
		if !finite(x) || !finite(y) {
			return fmt.Errorf("st_point: coordinates must be finite, got (%v, %v)", x, y)
		}
		out.AppendString(FormatWKT(orb.Point{x, y}))
		return nil
	}), kF, kF))
	register("st_geometryfromtext", sig(kS, geomUnary("st_geometryfromtext", kS, func(g orb.Geometry, out *columnar.Column) error {
		out.AppendString(FormatWKT(g))
		return nil
	}), kS))
	alias("st_geomfromtext", "st_geometryfromtext")
	register("st_polygon", sig(kS, geomUnary("st_polygon", kS, func(g orb.Geometry, out *columnar.Column) error {
		if _, ok := g.(orb.Polygon); !ok {
			return fmt.Errorf("st_polygon: input is a %s, not a POLYGON", wktType(g))
		}
		out.AppendString(FormatWKT(g))
		return nil
	}), kS))
	register("st_astext", sig(kS, rowFunc(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		g, _, err := parseGeo("st_astext", str(a[0], i), true)
		if err != nil {
			return err
		}
		out.AppendString(FormatWKT(g))
		return nil
	}), kS))
	register("st_geometrytype", sig(kS, geomUnary("st_geometrytype", kS, func(g orb.Geometry, out *columnar.Column) error {
		out.AppendString(stType(g))
		return nil
	}), kS))
	register("st_x", sig(kF, geomUnary("st_x", kF, func(g orb.Geometry, out *columnar.Column) error {
		p, ok := g.(orb.Point)
		if !ok {
			return fmt.Errorf("st_x only applies to POINT; input type is %s", wktType(g))
		}
		out.AppendFloat(p[0])
		return nil
	}), kS))
	register("st_y", sig(kF, geomUnary("st_y", kF, func(g orb.Geometry, out *columnar.Column) error {
		p, ok := g.(orb.Point)
		if !ok {
			return fmt.Errorf("st_y only applies to POINT; input type is %s", wktType(g))
		}
		out.AppendFloat(p[1])
		return nil
	}), kS))
	for _, b := range []struct {
		name string
		pick func(orb.Bound) float64
	}{
		{"st_xmin", func(b orb.Bound) float64 { return b.Min[0] }},
		{"st_ymin", func(b orb.Bound) float64 { return b.Min[1] }},
		{"st_xmax", func(b orb.Bound) float64 { return b.Max[0] }},
		{"st_ymax", func(b orb.Bound) float64 { return b.Max[1] }},
	} {
		register(b.name, sig(kF, geomUnary(b.name, kF, func(g orb.Geometry, out *columnar.Column) error {
			if isEmpty(g) {
				out.AppendNull()
				return nil
			}
			out.AppendFloat(b.pick(g.Bound()))
			return nil
		}), kS))
	}
	register("st_envelope", sig(kS, geomUnary("st_envelope", kS, func(g orb.Geometry, out *columnar.Column) error {
		if isEmpty(g) {
			out.AppendString("POLYGON EMPTY")
			return nil
		}
		out.AppendString(FormatWKT(g.Bound().ToPolygon()))
		return nil
	}), kS))
	register("st_area", sig(kF, geomUnary("st_area", kF, func(g orb.Geometry, out *columnar.Column) error {
		out.AppendFloat(math.Abs(planar.Area(g)))
		return nil
	}), kS))
	register("st_length", sig(kF, geomUnary("st_length", kF, func(g orb.Geometry, out *columnar.Column) error {
		switch g.(type) {
		case orb.LineString, orb.MultiLineString:
			out.AppendFloat(planar.Length(g))
			return nil
		}
		return fmt.Errorf("st_length only applies to LINESTRING or MULTILINESTRING; input type is %s", wktType(g))
	}), kS))
	register("st_distance", sig(kF, rowFunc(kF, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		g1, sph1, err := parseGeo("st_distance", str(a[0], i), true)
		if err != nil {
			return err
		}
		g2, sph2, err := parseGeo("st_distance", str(a[1], i), true)
		if err != nil {
			return err
		}
		if sph1 != sph2 {
			return errors.New("st_distance: cannot measure between a geometry and a spherical geography")
		}
		if sph1 {
			p1, ok1 := g1.(orb.Point)
			p2, ok2 := g2.(orb.Point)
			if !ok1 || !ok2 {
				return fmt.Errorf("st_distance: spherical distance supports POINT to POINT only, got %s and %s", wktType(g1), wktType(g2))
			}
			out.AppendFloat(greatCircleKm(p1[1], p1[0], p2[1], p2[0]) * 1000)
			return nil
		}
		d, ok := planarDistance(g1, g2)
		if !ok {
			out.AppendNull() // Trino: distance to an empty geometry is NULL
			return nil
		}
		out.AppendFloat(d)
		return nil
	}), kS, kS))
	register("great_circle_distance", sig(kF, rowFunc(kF, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		lat1, lon1, lat2, lon2 := f64(a[0], i), f64(a[1], i), f64(a[2], i), f64(a[3], i)
		if err := checkLatLon("great_circle_distance", lat1, lon1); err != nil {
			return err
		}
		if err := checkLatLon("great_circle_distance", lat2, lon2); err != nil {
			return err
		}
		out.AppendFloat(greatCircleKm(lat1, lon1, lat2, lon2))
		return nil
	}), kF, kF, kF, kF))
	register("to_spherical_geography", sig(kS, geomUnary("to_spherical_geography", kS, func(g orb.Geometry, out *columnar.Column) error {
		if err := checkLonLatGeom(g); err != nil {
			return err
		}
		out.AppendString(sphericalPrefix + FormatWKT(g))
		return nil
	}), kS))
	register("to_geometry", sig(kS, rowFunc(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		g, _, err := parseGeo("to_geometry", str(a[0], i), true)
		if err != nil {
			return err
		}
		out.AppendString(FormatWKT(g))
		return nil
	}), kS))
	register("st_contains", sig(kB, geomBinary("st_contains", func(g1, g2 orb.Geometry) (bool, error) {
		return contains("st_contains", g1, g2)
	}), kS, kS))
	register("st_within", sig(kB, geomBinary("st_within", func(g1, g2 orb.Geometry) (bool, error) {
		return contains("st_within", g2, g1)
	}), kS, kS))
	register("st_intersects", sig(kB, geomBinary("st_intersects", func(g1, g2 orb.Geometry) (bool, error) {
		d, ok := planarDistance(g1, g2)
		return ok && d == 0, nil
	}), kS, kS))
}

// geomUnary builds a strict one-argument function over a planar geometry.
func geomUnary(name string, ret columnar.Type, f func(g orb.Geometry, out *columnar.Column) error) ScalarFunc {
	return rowFunc(ret, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		g, _, err := parseGeo(name, str(a[0], i), false)
		if err != nil {
			return err
		}
		return f(g, out)
	})
}

// geomBinary builds a strict two-geometry predicate.
func geomBinary(name string, f func(g1, g2 orb.Geometry) (bool, error)) ScalarFunc {
	return rowFunc(kB, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		g1, _, err := parseGeo(name, str(a[0], i), false)
		if err != nil {
			return err
		}
		g2, _, err := parseGeo(name, str(a[1], i), false)
		if err != nil {
			return err
		}
		r, err := f(g1, g2)
		if err != nil {
			return err
		}
		out.AppendBool(r)
		return nil
	})
}

// parseGeo parses a geometry argument of function name. A spherical
// geography is accepted only where allowSpherical is set; sph reports
// whether the value was one.
func parseGeo(name, s string, allowSpherical bool) (g orb.Geometry, sph bool, err error) {
	body := s
	if len(body) >= len(sphericalPrefix) && strings.EqualFold(body[:len(sphericalPrefix)], sphericalPrefix) {
		if !allowSpherical {
			return nil, false, fmt.Errorf("%s: spherical geography not supported here (use to_geometry): %s", name, quoteInput(s))
		}
		body, sph = body[len(sphericalPrefix):], true
	}
	g, err = ParseWKT(body)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w: %s", name, err, quoteInput(s))
	}
	return g, sph, nil
}

func quoteInput(s string) string {
	const max = 80
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// ParseWKT parses well-known text into an orb geometry. It accepts what
// orb's parser accepts (case-insensitive type names, optional space before
// the parenthesis, "EMPTY" for all types but POINT), rejects non-finite
// coordinates, and closes polygon rings that are not closed, as Trino's
// parser does. It never panics.
func ParseWKT(s string) (g orb.Geometry, err error) {
	defer func() {
		if r := recover(); r != nil { // a third-party parser must not take the query down
			g, err = nil, fmt.Errorf("invalid WKT (%v)", r)
		}
	}()
	t := canonicalSpace(s)
	if strings.EqualFold(t, "POINT EMPTY") {
		return nil, errors.New("invalid WKT: empty points are not supported")
	}
	if len(t) > len("POINT(") && strings.EqualFold(t[:len("POINT(")], "POINT(") && t[len(t)-1] == ')' {
		// Fast path for the commonest value (orb's general parser costs
		// several allocations a point).
		if xs, ys, ok := strings.Cut(t[len("POINT("):len(t)-1], " "); ok {
			x, errx := strconv.ParseFloat(xs, 64)
			y, erry := strconv.ParseFloat(ys, 64)
			if errx == nil && erry == nil && finite(x) && finite(y) {
				return orb.Point{x, y}, nil
			}
		}
	}
	if len(t) > len("MULTIPOINT(") && strings.EqualFold(t[:len("MULTIPOINT(")], "MULTIPOINT(") && t[len("MULTIPOINT(")] != '(' {
		// "MULTIPOINT (1 2, 3 4)" is valid WKT that orb only reads as
		// "MULTIPOINT ((1 2), (3 4))".
		t = "MULTIPOINT((" + strings.ReplaceAll(t[len("MULTIPOINT("):len(t)-1], ",", "),(") + "))"
	}
	g, err = wkt.Unmarshal(t)
	if err != nil {
		return nil, fmt.Errorf("invalid WKT (%v)", err)
	}
	return normalize(g)
}

// canonicalSpace rewrites WKT's free-form white space to the one form
// orb's parser reads: single spaces between words and numbers, none next to
// parentheses and commas ("POINT ( 1   2 )" becomes "POINT(1 2)").
func canonicalSpace(s string) string {
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			space = true
			continue
		case '(', ')', ',':
			space = false
			if n := len(b); n > 0 && b[n-1] == ' ' {
				b = b[:n-1]
			}
			b = append(b, c)
			continue
		}
		if space && len(b) > 0 && b[len(b)-1] != '(' && b[len(b)-1] != ',' {
			b = append(b, ' ')
		}
		space = false
		b = append(b, c)
	}
	return string(b)
}

// normalize checks coordinates and closes rings, recursively.
func normalize(g orb.Geometry) (orb.Geometry, error) {
	switch v := g.(type) {
	case orb.Point:
		return v, checkPoints([]orb.Point{v})
	case orb.MultiPoint:
		return v, checkPoints(v)
	case orb.LineString:
		if len(v) == 1 {
			return nil, errors.New("invalid WKT: a LINESTRING needs at least 2 points")
		}
		return v, checkPoints(v)
	case orb.MultiLineString:
		for _, ls := range v {
			if _, err := normalize(ls); err != nil {
				return nil, err
			}
		}
		return v, nil
	case orb.Polygon:
		return closePolygon(v)
	case orb.MultiPolygon:
		for i, p := range v {
			q, err := closePolygon(p)
			if err != nil {
				return nil, err
			}
			v[i] = q
		}
		return v, nil
	case orb.Collection:
		for i, m := range v {
			n, err := normalize(m)
			if err != nil {
				return nil, err
			}
			v[i] = n
		}
		return v, nil
	}
	return nil, fmt.Errorf("invalid WKT: unsupported geometry %T", g)
}

func closePolygon(p orb.Polygon) (orb.Polygon, error) {
	for i, r := range p {
		if err := checkPoints(r); err != nil {
			return nil, err
		}
		if len(r) > 0 && r[0] != r[len(r)-1] {
			r = append(r[:len(r):len(r)], r[0])
			p[i] = r
		}
		if len(r) < 4 {
			return nil, errors.New("invalid WKT: a polygon ring needs at least 3 distinct points")
		}
	}
	return p, nil
}

func checkPoints(ps []orb.Point) error {
	for _, p := range ps {
		if !finite(p[0]) || !finite(p[1]) {
			return errors.New("invalid WKT: coordinates must be finite")
		}
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// FormatWKT prints g as Trino's ST_AsText does: upper-case type name, a
// space, then the coordinates; numbers in their shortest exact decimal
// form (47.6, not 47.600000000000001), multipoints with each point in
// parentheses, "EMPTY" for empty geometries.
func FormatWKT(g orb.Geometry) string {
	var b strings.Builder
	b.Grow(32)
	writeWKT(&b, g)
	return b.String()
}

func writeWKT(b *strings.Builder, g orb.Geometry) {
	b.WriteString(wktType(g))
	if isEmpty(g) {
		b.WriteString(" EMPTY")
		return
	}
	b.WriteByte(' ')
	switch v := g.(type) {
	case orb.Point:
		b.WriteByte('(')
		writeCoord(b, v)
		b.WriteByte(')')
	case orb.MultiPoint:
		b.WriteByte('(')
		for i, p := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			writeCoord(b, p)
			b.WriteByte(')')
		}
		b.WriteByte(')')
	case orb.LineString:
		writeCoords(b, v)
	case orb.MultiLineString:
		b.WriteByte('(')
		for i, ls := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeCoords(b, ls)
		}
		b.WriteByte(')')
	case orb.Polygon:
		writePolygon(b, v)
	case orb.MultiPolygon:
		b.WriteByte('(')
		for i, p := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writePolygon(b, p)
		}
		b.WriteByte(')')
	case orb.Collection:
		b.WriteByte('(')
		for i, m := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeWKT(b, m)
		}
		b.WriteByte(')')
	case orb.Bound:
		writePolygon(b, v.ToPolygon())
	}
}

func writePolygon(b *strings.Builder, p orb.Polygon) {
	b.WriteByte('(')
	for i, r := range p {
		if i > 0 {
			b.WriteString(", ")
		}
		writeCoords(b, r)
	}
	b.WriteByte(')')
}

func writeCoords(b *strings.Builder, ps []orb.Point) {
	b.WriteByte('(')
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		writeCoord(b, p)
	}
	b.WriteByte(')')
}

func writeCoord(b *strings.Builder, p orb.Point) {
	var buf [64]byte
	b.Write(appendNum(buf[:0], p[0]))
	b.WriteByte(' ')
	b.Write(appendNum(buf[:0], p[1]))
}

func appendNum(dst []byte, x float64) []byte {
	if x == 0 {
		x = 0 // no "-0"
	}
	return strconv.AppendFloat(dst, x, 'f', -1, 64)
}

func wktType(g orb.Geometry) string {
	switch g.(type) {
	case orb.Point:
		return "POINT"
	case orb.MultiPoint:
		return "MULTIPOINT"
	case orb.LineString:
		return "LINESTRING"
	case orb.MultiLineString:
		return "MULTILINESTRING"
	case orb.Polygon, orb.Bound:
		return "POLYGON"
	case orb.MultiPolygon:
		return "MULTIPOLYGON"
	case orb.Collection:
		return "GEOMETRYCOLLECTION"
	}
	return "GEOMETRY"
}

// stType is ST_GeometryType's answer, Trino's spelling.
func stType(g orb.Geometry) string {
	switch g.(type) {
	case orb.Point:
		return "ST_Point"
	case orb.MultiPoint:
		return "ST_MultiPoint"
	case orb.LineString:
		return "ST_LineString"
	case orb.MultiLineString:
		return "ST_MultiLineString"
	case orb.Polygon, orb.Bound:
		return "ST_Polygon"
	case orb.MultiPolygon:
		return "ST_MultiPolygon"
	case orb.Collection:
		return "ST_GeomCollection"
	}
	return "ST_Geometry"
}

func isEmpty(g orb.Geometry) bool {
	switch v := g.(type) {
	case orb.Point, orb.Bound:
		return false
	case orb.MultiPoint:
		return len(v) == 0
	case orb.LineString:
		return len(v) == 0
	case orb.MultiLineString:
		for _, ls := range v {
			if len(ls) > 0 {
				return false
			}
		}
		return true
	case orb.Polygon:
		return len(v) == 0 || len(v[0]) == 0
	case orb.MultiPolygon:
		for _, p := range v {
			if !isEmpty(p) {
				return false
			}
		}
		return true
	case orb.Collection:
		for _, m := range v {
			if !isEmpty(m) {
				return false
			}
		}
		return true
	}
	return true
}

// ---- great circle ----

func checkLatLon(name string, lat, lon float64) error {
	if !(lat >= -90 && lat <= 90) {
		return fmt.Errorf("%s: latitude must be between -90 and 90, got %v", name, lat)
	}
	if !(lon >= -180 && lon <= 180) {
		return fmt.Errorf("%s: longitude must be between -180 and 180, got %v", name, lon)
	}
	return nil
}

func checkLonLatGeom(g orb.Geometry) error {
	var err error
	eachPoint(g, func(p orb.Point) {
		if err == nil {
			err = checkLatLon("to_spherical_geography", p[1], p[0])
		}
	})
	return err
}

// greatCircleKm is the central angle by the atan2 (Vincenty special case)
// formula, accurate at all distances, times Trino's earth radius.
func greatCircleKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	p1, p2, dl := lat1*rad, lat2*rad, (lon2-lon1)*rad
	s1, c1 := math.Sincos(p1)
	s2, c2 := math.Sincos(p2)
	sdl, cdl := math.Sincos(dl)
	a := c2 * sdl
	b := c1*s2 - s1*c2*cdl
	return math.Atan2(math.Hypot(a, b), s1*s2+c1*c2*cdl) * earthRadiusKm
}

// ---- planar predicates and distance ----

type segment struct{ a, b orb.Point }

// parts flattens a geometry into isolated points, segments (lines and
// polygon rings) and polygons (for area containment).
type parts struct {
	points []orb.Point
	segs   []segment
	polys  []orb.Polygon
}

func flatten(g orb.Geometry, p *parts) {
	switch v := g.(type) {
	case orb.Point:
		p.points = append(p.points, v)
	case orb.MultiPoint:
		p.points = append(p.points, v...)
	case orb.LineString:
		if len(v) == 1 {
			p.points = append(p.points, v[0])
		}
		for i := 1; i < len(v); i++ {
			p.segs = append(p.segs, segment{v[i-1], v[i]})
		}
	case orb.MultiLineString:
		for _, ls := range v {
			flatten(ls, p)
		}
	case orb.Polygon:
		if isEmpty(v) {
			return
		}
		p.polys = append(p.polys, v)
		for _, r := range v {
			flatten(orb.LineString(r), p)
		}
	case orb.MultiPolygon:
		for _, q := range v {
			flatten(q, p)
		}
	case orb.Collection:
		for _, m := range v {
			flatten(m, p)
		}
	case orb.Bound:
		flatten(v.ToPolygon(), p)
	}
}

func (p *parts) vertices(yield func(orb.Point) bool) {
	for _, q := range p.points {
		if !yield(q) {
			return
		}
	}
	for _, s := range p.segs {
		if !yield(s.a) || !yield(s.b) {
			return
		}
	}
}

func eachPoint(g orb.Geometry, f func(orb.Point)) {
	var p parts
	flatten(g, &p)
	p.vertices(func(q orb.Point) bool { f(q); return true })
}

// planarDistance is the Cartesian distance between two geometries, 0 when
// they intersect; ok is false when either is empty.
func planarDistance(g1, g2 orb.Geometry) (d float64, ok bool) {
	var a, b parts
	flatten(g1, &a)
	flatten(g2, &b)
	if len(a.points)+len(a.segs) == 0 || len(b.points)+len(b.segs) == 0 {
		return 0, false
	}
	for _, s := range a.segs {
		for _, t := range b.segs {
			if segmentsIntersect(s, t) {
				return 0, true
			}
		}
	}
	// One inside the other's area: any vertex decides, since no edges cross.
	inside := false
	a.vertices(func(q orb.Point) bool {
		inside = inAnyPolygon(b.polys, q)
		return !inside
	})
	if inside {
		return 0, true
	}
	b.vertices(func(q orb.Point) bool {
		inside = inAnyPolygon(a.polys, q)
		return !inside
	})
	if inside {
		return 0, true
	}
	d = math.Inf(1)
	for _, q := range a.points {
		for _, r := range b.points {
			d = min(d, planar.Distance(q, r))
		}
		for _, t := range b.segs {
			d = min(d, planar.DistanceFromSegment(t.a, t.b, q))
		}
	}
	for _, s := range a.segs {
		for _, r := range b.points {
			d = min(d, planar.DistanceFromSegment(s.a, s.b, r))
		}
		for _, t := range b.segs {
			// Non-intersecting segments: the closest pair includes an endpoint.
			d = min(d, planar.DistanceFromSegment(t.a, t.b, s.a), planar.DistanceFromSegment(t.a, t.b, s.b),
				planar.DistanceFromSegment(s.a, s.b, t.a), planar.DistanceFromSegment(s.a, s.b, t.b))
		}
	}
	return d, true
}

func inAnyPolygon(ps []orb.Polygon, q orb.Point) bool {
	for _, p := range ps {
		if planar.PolygonContains(p, q) {
			return true
		}
	}
	return false
}

func cross(o, a, b orb.Point) float64 {
	return (a[0]-o[0])*(b[1]-o[1]) - (a[1]-o[1])*(b[0]-o[0])
}

// onSegment reports whether q, known collinear with s, lies within s's box.
func onSegment(s segment, q orb.Point) bool {
	return min(s.a[0], s.b[0]) <= q[0] && q[0] <= max(s.a[0], s.b[0]) &&
		min(s.a[1], s.b[1]) <= q[1] && q[1] <= max(s.a[1], s.b[1])
}

func pointOnSegment(s segment, q orb.Point) bool {
	return cross(s.a, s.b, q) == 0 && onSegment(s, q)
}

// segmentsIntersect reports whether two closed segments share a point.
func segmentsIntersect(s, t segment) bool {
	d1 := cross(t.a, t.b, s.a)
	d2 := cross(t.a, t.b, s.b)
	d3 := cross(s.a, s.b, t.a)
	d4 := cross(s.a, s.b, t.b)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	return (d1 == 0 && onSegment(t, s.a)) || (d2 == 0 && onSegment(t, s.b)) ||
		(d3 == 0 && onSegment(s, t.a)) || (d4 == 0 && onSegment(s, t.b))
}

// location of a point relative to a polygonal area.
type location int

const (
	exterior location = iota
	boundary
	interior
)

func locate(a *parts, q orb.Point) location {
	for _, s := range a.segs {
		if pointOnSegment(s, q) {
			return boundary
		}
	}
	if inAnyPolygon(a.polys, q) {
		return interior
	}
	return exterior
}

// contains is ST_Contains(g1, g2): no point of g2 outside g1 and at least
// one point of g2's interior in g1's interior.
func contains(name string, g1, g2 orb.Geometry) (bool, error) {
	if isEmpty(g1) || isEmpty(g2) {
		return false, nil
	}
	var a, b parts
	flatten(g1, &a)
	flatten(g2, &b)
	switch g1.(type) {
	case orb.Point, orb.MultiPoint:
		// A point set contains only points of itself.
		if len(b.segs) > 0 {
			return false, nil
		}
		for _, q := range b.points {
			found := false
			for _, r := range a.points {
				found = found || q == r
			}
			if !found {
				return false, nil
			}
		}
		return true, nil
	case orb.Polygon, orb.MultiPolygon:
	default:
		if len(a.polys) == 0 && len(b.segs) == 0 {
			// Lines containing points: on the line, not at a free endpoint.
			for _, q := range b.points {
				if locate(&a, q) != boundary || isLineEndpoint(g1, q) {
					return false, nil
				}
			}
			return true, nil
		}
		return false, fmt.Errorf("%s: containment of %s in %s is not supported", name, wktType(g2), wktType(g1))
	}
	inner := false // some point of g2's interior lies in g1's interior
	for _, q := range b.points {
		switch locate(&a, q) {
		case exterior:
			return false, nil
		case interior:
			inner = true
		}
	}
	for _, s := range b.segs {
		// Split s where it meets g1's boundary; each piece is then wholly
		// inside, on or outside g1, and its midpoint says which.
		ts := []float64{0, 1}
		for _, t := range a.segs {
			ts = appendCuts(ts, s, t)
		}
		sort.Float64s(ts)
		for i := 1; i < len(ts); i++ {
			if ts[i] == ts[i-1] {
				continue
			}
			m := (ts[i-1] + ts[i]) / 2
			q := orb.Point{s.a[0] + m*(s.b[0]-s.a[0]), s.a[1] + m*(s.b[1]-s.a[1])}
			switch locate(&a, q) {
			case exterior:
				return false, nil
			case interior:
				inner = true
			}
		}
		if locate(&a, s.a) == exterior || locate(&a, s.b) == exterior {
			return false, nil
		}
	}
	// g1's holes (and gaps between its parts) must not lie inside g2's area.
	if len(b.polys) > 0 {
		for _, p := range a.polys {
			for _, hole := range p[1:] {
				for _, q := range hole {
					if inAnyPolygon(b.polys, q) && locate(&b, q) == interior {
						return false, nil
					}
				}
				if c, _ := planar.CentroidArea(orb.Polygon{hole}); locate(&b, c) == interior && locate(&a, c) == exterior {
					return false, nil
				}
			}
		}
		if !inner {
			// Every edge runs along g1's boundary; an area-bearing g2 then
			// contains interior points of g1 exactly when its area is
			// positive.
			inner = math.Abs(planar.Area(g2)) > 0
		}
	}
	return inner, nil
}

// appendCuts appends the parameters along s where t meets it.
func appendCuts(ts []float64, s, t segment) []float64 {
	dx, dy := s.b[0]-s.a[0], s.b[1]-s.a[1]
	l2 := dx*dx + dy*dy
	if l2 == 0 {
		return ts
	}
	param := func(q orb.Point) float64 { return ((q[0]-s.a[0])*dx + (q[1]-s.a[1])*dy) / l2 }
	for _, q := range [2]orb.Point{t.a, t.b} {
		if pointOnSegment(s, q) {
			ts = append(ts, param(q))
		}
	}
	d1, d2 := cross(t.a, t.b, s.a), cross(t.a, t.b, s.b)
	if (d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0) {
		d3, d4 := cross(s.a, s.b, t.a), cross(s.a, s.b, t.b)
		if (d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0) {
			ts = append(ts, d1/(d1-d2))
		}
	}
	return ts
}

func isLineEndpoint(g orb.Geometry, q orb.Point) bool {
	switch v := g.(type) {
	case orb.LineString:
		return len(v) > 0 && v[0] != v[len(v)-1] && (q == v[0] || q == v[len(v)-1])
	case orb.MultiLineString:
		for _, ls := range v {
			if isLineEndpoint(ls, q) {
				return true
			}
		}
	}
	return false
}
