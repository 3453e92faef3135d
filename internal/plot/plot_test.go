package plot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/insights"
)

var t0 = time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC).UnixNano()

// fixture: a daily sine sampled every 10 minutes for two days, with three
// anomalies and a 6-hour forecast.
func fixture(n int) Spec {
	s := insights.Series{}
	for i := range n {
		t := t0 + int64(i)*int64(10*time.Minute)
		s.Times = append(s.Times, t)
		s.Values = append(s.Values, 50+10*math.Sin(2*math.Pi*float64(i)/144))
	}
	var anomalies []insights.Point
	for _, i := range []int{20, 100, 250} {
		if i < n {
			s.Values[i] += 40
			anomalies = append(anomalies, insights.Point{Time: s.Times[i], Value: s.Values[i], IsAnomaly: true})
		}
	}
	var fc []insights.Point
	last := s.Times[n-1]
	for h := 1; h <= 36; h++ {
		e := 50 + 10*math.Sin(2*math.Pi*float64(n-1+h)/144)
		w := 2 + 0.2*float64(h)
		fc = append(fc, insights.Point{Time: last + int64(h)*int64(10*time.Minute), Value: math.NaN(), Expected: e, Lower: e - w, Upper: e + w})
	}
	return Spec{Title: "device-7 · temperature", ValueLabel: "°C", Observed: s, Anomalies: anomalies, Forecast: fc, Level: 95}
}

type svgPath struct {
	d     string
	style map[string]string
}

// svgPaths parses an SVG with encoding/xml and returns its path elements.
func svgPaths(t *testing.T, data []byte) (paths []svgPath, texts []string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	inText := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			inText = e.Name.Local == "text"
			if e.Name.Local != "path" {
				continue
			}
			p := svgPath{style: map[string]string{}}
			for _, a := range e.Attr {
				switch a.Name.Local {
				case "d":
					p.d = a.Value
				case "style":
					for _, kv := range strings.Split(a.Value, ";") {
						k, v, _ := strings.Cut(kv, ":")
						p.style[strings.TrimSpace(k)] = strings.TrimSpace(v)
					}
				}
			}
			paths = append(paths, p)
		case xml.CharData:
			if inText {
				texts = append(texts, string(e))
			}
		case xml.EndElement:
			inText = false
		}
	}
	return paths, texts
}

// sameColor compares an SVG "#RRGGBB" with c's straight (non-premultiplied)
// colour, allowing gonum's rounding of one unit.
func sameColor(hex string, c color.Color) bool {
	if len(hex) != 7 || hex[0] != '#' {
		return false
	}
	v, err := strconv.ParseUint(hex[1:], 16, 32)
	if err != nil {
		return false
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	near := func(a uint64, b uint8) bool { return math.Abs(float64(a)-float64(b)) <= 1 }
	return near(v>>16&0xff, n.R) && near(v>>8&0xff, n.G) && near(v&0xff, n.B)
}

func TestSVGHoldsDotsAndBand(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n         int
		anomalies int
	}{
		{"two-days", 288, 3},
		{"short", 30, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := fixture(tc.n)
			var buf bytes.Buffer
			if err := Render(&buf, "svg", spec); err != nil {
				t.Fatal(err)
			}
			paths, texts := svgPaths(t, buf.Bytes())
			dots, bands, bold := 0, 0, 0
			for _, p := range paths {
				fill := p.style["fill"]
				switch {
				case sameColor(fill, AnomalyColor) && strings.Count(p.d, "A") == 2:
					dots++ // a circle glyph: two arcs, filled
				case sameColor(fill, BandColor) && !strings.Contains(p.d, "A") && strings.HasSuffix(p.d, "Z"):
					// The plot's band has a vertex per bound; the legend's
					// swatch is a rectangle.
					if strings.Count(p.d, "L") >= 2*len(spec.Forecast)-1 {
						bands++
					}
					if op, _ := strconv.ParseFloat(p.style["fill-opacity"], 64); op <= 0 || op >= 1 {
						t.Errorf("band opacity %q, want translucent", p.style["fill-opacity"])
					}
				case p.style["fill"] == "none" && sameColor(p.style["stroke"], ForecastColor):
					if w, _ := strconv.ParseFloat(p.style["stroke-width"], 64); w >= 2 {
						bold++
					}
				}
			}
			// One dot per anomaly plus the legend's.
			if dots != tc.anomalies+1 {
				t.Errorf("%d anomaly dots, want %d (+1 in the legend)", dots, tc.anomalies+1)
			}
			if bands != 1 {
				t.Errorf("%d band polygons, want 1", bands)
			}
			if bold < 1 {
				t.Errorf("no bold forecast line")
			}
			all := strings.Join(texts, "|")
			for _, want := range []string{spec.Title, "anomaly", "forecast", "95% interval", "observed", "time (UTC)", "°C"} {
				if !strings.Contains(all, want) {
					t.Errorf("SVG text lacks %q; has %q", want, all)
				}
			}
		})
	}
}

func TestPNGDecodesAtSize(t *testing.T) {
	for _, size := range [][2]int{{0, 0}, {640, 360}, {1200, 500}} {
		t.Run(fmt.Sprintf("w=%d,h=%d", size[0], size[1]), func(t *testing.T) {
			spec := fixture(288)
			spec.Width, spec.Height = size[0], size[1]
			var buf bytes.Buffer
			if err := Render(&buf, "PNG", spec); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			w, h := size[0], size[1]
			if w == 0 {
				w, h = DefaultWidth, DefaultHeight
			}
			if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Fatalf("PNG is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
			}
			// Some pixels carry the anomaly red, some the band's tint.
			red := 0
			b := img.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					r, g, bl, _ := img.At(x, y).RGBA()
					if r>>8 > 0xc0 && g>>8 < 0x50 && bl>>8 < 0x50 {
						red++
					}
				}
			}
			if red < 20 {
				t.Errorf("only %d red pixels: no anomaly dots drawn?", red)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	good := fixture(50)
	for _, tc := range []struct {
		name   string
		format string
		mod    func(*Spec)
		want   string
	}{
		{"format", "gif", nil, "unknown format"},
		{"tiny", "svg", func(s *Spec) { s.Width, s.Height = 10, 10 }, "out of range"},
		{"mismatch", "svg", func(s *Spec) { s.Observed.Values = s.Observed.Values[:3] }, "times and"},
		{"empty", "png", func(s *Spec) { *s = Spec{} }, "nothing to draw"},
		{"all NaN", "svg", func(s *Spec) {
			*s = Spec{Observed: insights.Series{Times: []int64{1, 2}, Values: []float64{math.NaN(), math.Inf(1)}}}
		}, "nothing to draw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := good
			if tc.mod != nil {
				tc.mod(&spec)
			}
			var buf bytes.Buffer
			err := Render(&buf, tc.format, spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Fatalf("wrote %d bytes despite the error", buf.Len())
			}
		})
	}
}

// A single point, a forecast alone and a constant series still draw.
func TestRenderDegenerate(t *testing.T) {
	for _, spec := range []Spec{
		{Observed: insights.Series{Times: []int64{t0}, Values: []float64{1}}},
		{Forecast: fixture(10).Forecast},
		{Observed: insights.Series{Times: []int64{t0, t0 + 1e9, t0 + 2e9}, Values: []float64{5, 5, 5}}},
	} {
		for _, f := range []string{SVG, PNG} {
			var buf bytes.Buffer
			if err := Render(&buf, f, spec); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}

func TestTimeTicks(t *testing.T) {
	ts := func(s string) float64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return float64(tm.UnixNano()) / 1e9
	}
	for _, tc := range []struct {
		lo, hi string
		max    int
		want   []string
	}{
		{"2026-11-25T18:07:00Z", "2026-11-26T05:50:00Z", 6, []string{"20:00\n2026-11-25", "22:00", "00:00\n2026-11-26", "02:00", "04:00"}},
		{"2026-11-25T18:00:10Z", "2026-11-25T18:00:50Z", 5, []string{"18:00:10\n2026-11-25", "18:00:20", "18:00:30", "18:00:40", "18:00:50"}},
		{"2026-11-25T18:00:00.120Z", "2026-11-25T18:00:00.480Z", 4, []string{"18:00:00.200\n2026-11-25", "18:00:00.300", "18:00:00.400"}},
		{"2026-11-20T10:00:00Z", "2026-11-26T10:00:00Z", 8, []string{"Nov 21\n2026", "Nov 22", "Nov 23", "Nov 24", "Nov 25", "Nov 26"}},
		{"2026-03-10T00:00:00Z", "2026-11-26T00:00:00Z", 5, []string{"May\n2026", "Jul", "Sep", "Nov"}},
		{"2025-12-10T00:00:00Z", "2026-03-26T00:00:00Z", 6, []string{"Jan\n2026", "Feb", "Mar"}},
		{"2019-06-01T00:00:00Z", "2026-11-26T00:00:00Z", 5, []string{"2020", "2022", "2024", "2026"}},
	} {
		t.Run(tc.lo+"/"+tc.hi, func(t *testing.T) {
			var got []string
			for _, tk := range (TimeTicker{MaxTicks: tc.max}).Ticks(ts(tc.lo), ts(tc.hi)) {
				got = append(got, tk.Label)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
	// Degenerate ranges fall back to gonum's numeric ticks without panicking.
	for _, r := range [][2]float64{{1, 1}, {math.NaN(), 1}, {-1e300, 1e300}} {
		_ = TimeTicker{MaxTicks: 5}.Ticks(r[0], r[1])
	}
}

func TestFormatFromPath(t *testing.T) {
	for in, want := range map[string]string{"a.svg": "svg", "/x/B.PNG": "png", "c.jpg": "", "noext": ""} {
		got, err := FormatFromPath(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%q: got %q, %v", in, got, err)
		}
	}
}

// go test ./internal/plot -run '^$' -bench Render -benchmem
func BenchmarkRender(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		spec := fixture(n)
		for _, f := range []string{SVG, PNG} {
			b.Run(fmt.Sprintf("points=%d/format=%s", n, f), func(b *testing.B) {
				b.ReportAllocs()
				var size int
				for b.Loop() {
					var buf bytes.Buffer
					if err := Render(&buf, f, spec); err != nil {
						b.Fatal(err)
					}
					size = buf.Len()
				}
				b.ReportMetric(float64(size), "bytes")
			})
		}
	}
}

func TestDecimateKeepsShape(t *testing.T) {
	spec := fixture(100_000)
	xys := seriesXYs(spec.Observed)
	// 20 points a column: the fixture's spikes fall in different columns.
	d := decimate(xys, 5000)
	if len(d) > 4*5000+4 || len(d) < 5000 {
		t.Fatalf("%d points after decimation to 5000 columns", len(d))
	}
	if d[0] != xys[0] || d[len(d)-1] != xys[len(xys)-1] {
		t.Fatal("ends moved")
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range xys {
		lo, hi = min(lo, p.Y), max(hi, p.Y)
	}
	dlo, dhi := math.Inf(1), math.Inf(-1)
	for i, p := range d {
		dlo, dhi = min(dlo, p.Y), max(dhi, p.Y)
		if i > 0 && p.X < d[i-1].X {
			t.Fatal("not in time order")
		}
	}
	if lo != dlo || hi != dhi {
		t.Fatalf("extremes %v..%v became %v..%v", lo, hi, dlo, dhi)
	}
	// Every anomaly spike survives.
	for _, a := range spec.Anomalies {
		found := false
		for _, p := range d {
			found = found || (p.Y == a.Value && p.X == seconds(a.Time))
		}
		if !found {
			t.Errorf("spike at %v lost", a.Time)
		}
	}
	// Short lines are left alone.
	if s := seriesXYs(fixture(100).Observed); len(decimate(s, 500)) != len(s) {
		t.Fatal("short line decimated")
	}
}
