// Package plot draws pictures of insights as QuickSight's ML insights show
// them: a series as a thin line, its anomalies as solid dots, and its
// forecast as a bold line inside a shaded band between the lower and upper
// bounds, with a title, a UTC time axis, a value axis and a legend. Output
// is SVG or PNG, rendered in pure Go by gonum/plot.
//
// Fonts: gonum/plot compiles the Liberation fonts into the binary, so
// layout and PNG rasterisation need no installed fonts. SVG text names the
// "Liberation Sans" family and falls back to the viewer's sans-serif; set
// Spec.EmbedFonts to carry the font inside the SVG (about 400 KB more).
//
// Render is safe for concurrent use: each call builds its own plot and
// canvas (gonum/plot's font cache, which calls share, is read-only here).
// Invariants: Render never panics (a panic inside gonum/plot becomes an
// error) and writes nothing to w when it returns an error before drawing.
package plot

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/sluice-dev/sluice/internal/insights"
)

// Formats Render accepts.
const (
	SVG = "svg"
	PNG = "png"
)

// Default picture size in pixels (CSS pixels for SVG).
const (
	DefaultWidth  = 960
	DefaultHeight = 480
)

// The colours are part of the picture's contract: tests (and anyone
// post-processing an SVG) find the dots and the band by them.
var (
	ObservedColor = color.RGBA{R: 0x4a, G: 0x78, B: 0xb0, A: 0xff}
	BaselineColor = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	AnomalyColor  = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	ForecastColor = color.RGBA{R: 0xe0, G: 0x6c, B: 0x00, A: 0xff}
	// BandColor is ForecastColor at a quarter opacity.
	BandColor = color.NRGBA{R: 0xe0, G: 0x6c, B: 0x00, A: 0x40}
)

// Spec is what to draw. Times are Unix nanoseconds (insights' convention).
type Spec struct {
	Title      string
	ValueLabel string // the value axis' label; "value" when empty

	// Observed is the series itself, drawn as a thin line.
	Observed insights.Series
	// Baseline, optional, is a detector's or model's expected value over
	// the observed range (Point.Expected), drawn as a thin dashed line.
	Baseline []insights.Point
	// Anomalies are drawn as solid dots at (Time, Value).
	Anomalies []insights.Point
	// Forecast rows: Expected as a bold line; Lower and Upper bound the
	// shaded band. Rows with non-finite bounds get no band there.
	Forecast []insights.Point
	// Level is the band's confidence level in percent (95), for the legend.
	Level float64

	// Width and Height in pixels; defaults when zero.
	Width, Height int
	// EmbedFonts embeds the font in SVG output.
	EmbedFonts bool
}

// FormatFromPath returns the format for a file name by its extension.
func FormatFromPath(path string) (string, error) {
	switch ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), ".")); ext {
	case SVG, PNG:
		return ext, nil
	default:
		return "", fmt.Errorf("plot: cannot tell the format of %q: want a .svg or .png file name", path)
	}
}

// dpi relates the pixel size to gonum's lengths: a pixel is 1/96 inch, as
// in CSS, so an SVG of Width pixels is Width CSS pixels wide.
const dpi = 96

// Render draws spec to w as format (SVG or PNG).
func Render(w io.Writer, format string, spec Spec) (err error) {
	format = strings.ToLower(format)
	if format != SVG && format != PNG {
		return fmt.Errorf("plot: unknown format %q (want svg or png)", format)
	}
	if spec.Width == 0 {
		spec.Width = DefaultWidth
	}
	if spec.Height == 0 {
		spec.Height = DefaultHeight
	}
	if spec.Width < 100 || spec.Height < 80 || spec.Width > 20000 || spec.Height > 20000 {
		return fmt.Errorf("plot: size %dx%d out of range (100..20000 x 80..20000 pixels)", spec.Width, spec.Height)
	}
	if len(spec.Observed.Times) != len(spec.Observed.Values) {
		return fmt.Errorf("plot: observed series has %d times and %d values", len(spec.Observed.Times), len(spec.Observed.Values))
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plot: rendering failed: %v", r)
		}
	}()
	p, err := build(spec)
	if err != nil {
		return err
	}
	wpt := vg.Length(spec.Width) * vg.Inch / dpi
	hpt := vg.Length(spec.Height) * vg.Inch / dpi
	// Draw into memory first so that a failure leaves w untouched.
	var buf bytes.Buffer
	switch format {
	case SVG:
		c := vgsvg.NewWith(vgsvg.UseWH(wpt, hpt), vgsvg.EmbedFonts(spec.EmbedFonts))
		p.Draw(draw.New(c))
		if _, err := c.WriteTo(&buf); err != nil {
			return fmt.Errorf("plot: writing SVG: %w", err)
		}
	case PNG:
		img := image.NewRGBA(image.Rect(0, 0, spec.Width, spec.Height))
		c := vgimg.NewWith(vgimg.UseImage(img), vgimg.UseDPI(dpi)) // white background
		p.Draw(draw.New(c))
		if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, c.Image()); err != nil {
			return fmt.Errorf("plot: encoding PNG: %w", err)
		}
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("plot: writing %s: %w", format, err)
	}
	return nil
}

func seconds(ns int64) float64 { return float64(ns) / 1e9 }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// build assembles the gonum plot.
func build(spec Spec) (*gplot.Plot, error) {
	p := gplot.New()
	// Sans-serif everywhere, set per text rather than through gonum's
	// package-level default font, which other users of gonum share.
	sans := func(size float64) font.Font {
		return font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Points(size)}
	}
	p.Title.TextStyle.Font = sans(13)
	p.Title.Padding = vg.Points(6)
	p.X.Label.TextStyle.Font = sans(10)
	p.Y.Label.TextStyle.Font = sans(10)
	p.X.Tick.Label.Font = sans(9)
	p.Y.Tick.Label.Font = sans(9)
	p.Legend.TextStyle.Font = sans(9)
	p.Title.Text = spec.Title
	p.X.Label.Text = "time (UTC)"
	p.Y.Label.Text = spec.ValueLabel
	if p.Y.Label.Text == "" {
		p.Y.Label.Text = "value"
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.ThumbnailWidth = vg.Points(18)

	var lo, hi float64 = math.Inf(1), math.Inf(-1)   // time range, for the ticker
	var ylo, yhi float64 = math.Inf(1), math.Inf(-1) // value range, for the legend's room
	extend := func(t float64) { lo, hi = min(lo, t), max(hi, t) }
	extendY := func(xys plotter.XYs) {
		for _, xy := range xys {
			ylo, yhi = min(ylo, xy.Y), max(yhi, xy.Y)
		}
	}
	drawn, entries := 0, 0
	addLegend := func(name string, th gplot.Thumbnailer) {
		p.Legend.Add(name, th)
		entries++
	}

	// Band first, so that the lines and dots are drawn over it.
	if band := bandXYs(spec.Forecast); len(band) > 0 {
		poly, err := plotter.NewPolygon(band)
		if err != nil {
			return nil, fmt.Errorf("plot: forecast band: %w", err)
		}
		poly.Color = BandColor
		poly.LineStyle.Width = 0
		p.Add(poly)
		label := "interval"
		if spec.Level > 0 {
			label = fmt.Sprintf("%g%% interval", spec.Level)
		}
		addLegend(label, poly)
		for _, xy := range band {
			extend(xy.X)
		}
		extendY(band)
	}
	if xys := decimate(seriesXYs(spec.Observed), spec.Width); len(xys) > 0 {
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("plot: observed series: %w", err)
		}
		l.Color = ObservedColor
		l.Width = vg.Points(1)
		p.Add(l)
		addLegend("observed", l)
		extend(xys[0].X)
		extend(xys[len(xys)-1].X)
		extendY(xys)
		drawn += len(xys)
	}
	if xys := decimate(expectedXYs(spec.Baseline), spec.Width); len(xys) > 0 {
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("plot: baseline: %w", err)
		}
		l.Color = BaselineColor
		l.Width = vg.Points(0.8)
		l.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
		p.Add(l)
		addLegend("baseline", l)
		extend(xys[0].X)
		extend(xys[len(xys)-1].X)
		extendY(xys)
		drawn += len(xys)
	}
	if xys := expectedXYs(spec.Forecast); len(xys) > 0 {
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("plot: forecast: %w", err)
		}
		l.Color = ForecastColor
		l.Width = vg.Points(2.5)
		p.Add(l)
		addLegend("forecast", l)
		extend(xys[0].X)
		extend(xys[len(xys)-1].X)
		extendY(xys)
		drawn += len(xys)
	}
	if xys := valueXYs(spec.Anomalies); len(xys) > 0 {
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, fmt.Errorf("plot: anomalies: %w", err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: AnomalyColor, Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}
		p.Add(s)
		addLegend("anomaly", s)
		for _, xy := range xys {
			extend(xy.X)
		}
		extendY(xys)
		drawn += len(xys)
	}
	if drawn == 0 {
		return nil, errors.New("plot: nothing to draw (no finite points)")
	}
	// A little air around the data so that edge dots are whole.
	pad := (hi - lo) * 0.01
	if pad == 0 {
		pad = 1
	}
	p.X.Min, p.X.Max = lo-pad, hi+pad
	// Room above the data for the legend (top left), so that it hides
	// nothing: its height in pixels over the plot area's, roughly.
	yr := yhi - ylo
	if yr == 0 {
		yr = math.Max(math.Abs(yhi), 1)
	}
	legendPx := float64(entries*13 + 12)
	areaPx := math.Max(float64(spec.Height-110), 40)
	room := math.Min(legendPx/math.Max(areaPx-legendPx, 1), 1.5)
	p.Y.Min, p.Y.Max = ylo-0.03*yr, yhi+(room+0.03)*yr
	// Roughly one labelled tick per 100 pixels of width.
	p.X.Tick.Marker = TimeTicker{MaxTicks: max(2, spec.Width/100)}
	return p, nil
}

func seriesXYs(s insights.Series) plotter.XYs {
	xys := make(plotter.XYs, 0, len(s.Times))
	for i, t := range s.Times {
		if v := s.Values[i]; finite(v) {
			xys = append(xys, plotter.XY{X: seconds(t), Y: v})
		}
	}
	return xys
}

// decimate thins a line of many more points than the picture has pixel
// columns: per column (of at most `columns` over the line's time range) it
// keeps the first, lowest, highest and last points in time order, so that
// the drawn line, spikes and all, looks the same (the M4 method) while the
// renderer draws a few thousand segments instead of millions. xys is
// ascending in X.
func decimate(xys plotter.XYs, columns int) plotter.XYs {
	if len(xys) <= 4*columns || columns < 1 {
		return xys
	}
	lo, hi := xys[0].X, xys[len(xys)-1].X
	if !(hi > lo) {
		return xys
	}
	out := make(plotter.XYs, 0, 4*columns+4)
	scale := float64(columns) / (hi - lo)
	for i := 0; i < len(xys); {
		col := int((xys[i].X - lo) * scale)
		j := i + 1
		minI, maxI := i, i
		for ; j < len(xys) && int((xys[j].X-lo)*scale) == col; j++ {
			if xys[j].Y < xys[minI].Y {
				minI = j
			}
			if xys[j].Y > xys[maxI].Y {
				maxI = j
			}
		}
		last := j - 1
		keep := [4]int{i, minI, maxI, last}
		if keep[1] > keep[2] {
			keep[1], keep[2] = keep[2], keep[1]
		}
		prev := -1
		for _, k := range keep {
			if k != prev {
				out = append(out, xys[k])
				prev = k
			}
		}
		i = j
	}
	return out
}

func expectedXYs(ps []insights.Point) plotter.XYs {
	xys := make(plotter.XYs, 0, len(ps))
	for _, pt := range ps {
		if finite(pt.Expected) {
			xys = append(xys, plotter.XY{X: seconds(pt.Time), Y: pt.Expected})
		}
	}
	return xys
}

func valueXYs(ps []insights.Point) plotter.XYs {
	xys := make(plotter.XYs, 0, len(ps))
	for _, pt := range ps {
		if finite(pt.Value) {
			xys = append(xys, plotter.XY{X: seconds(pt.Time), Y: pt.Value})
		}
	}
	return xys
}

// bandXYs is the band's outline: along the upper bounds, then back along
// the lower ones. Rows without finite bounds are left out.
func bandXYs(ps []insights.Point) plotter.XYs {
	xys := make(plotter.XYs, 0, 2*len(ps))
	for _, pt := range ps {
		if finite(pt.Lower) && finite(pt.Upper) {
			xys = append(xys, plotter.XY{X: seconds(pt.Time), Y: pt.Upper})
		}
	}
	for i := len(ps) - 1; i >= 0; i-- {
		if pt := ps[i]; finite(pt.Lower) && finite(pt.Upper) {
			xys = append(xys, plotter.XY{X: seconds(pt.Time), Y: pt.Lower})
		}
	}
	if len(xys) < 4 { // a band needs two rows
		return nil
	}
	return xys
}

// TimeTicker places ticks on round UTC times (whole seconds, minutes,
// hours, days, months or years, whichever gives at most MaxTicks labels)
// for an axis in Unix seconds, and labels them with as much of the date
// and time as the step needs, the date shown on the first tick and where
// the day changes.
type TimeTicker struct {
	MaxTicks int
}

type step struct {
	d      time.Duration // fixed-length step, or
	months int           // calendar months
}

var steps = func() []step {
	var s []step
	for _, d := range []time.Duration{
		time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
		50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
		24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour,
	} {
		s = append(s, step{d: d})
	}
	for _, m := range []int{1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1200} {
		s = append(s, step{months: m})
	}
	return s
}()

// Ticks implements gonum's plot.Ticker.
func (tt TimeTicker) Ticks(lo, hi float64) []gplot.Tick {
	maxTicks := max(tt.MaxTicks, 2)
	if !(hi > lo) || !finite(lo) || !finite(hi) {
		return nil // gonum's own tickers panic on such ranges
	}
	if math.Abs(lo) > 1e11 || math.Abs(hi) > 1e11 {
		// Beyond the years 1..5000 calendar ticks are pointless; plain numbers.
		return gplot.DefaultTicks{}.Ticks(lo, hi)
	}
	span := time.Duration((hi - lo) * 1e9)
	chosen := steps[len(steps)-1]
	for _, s := range steps {
		n := 0
		if s.months > 0 {
			n = int(span/(time.Duration(s.months)*30*24*time.Hour)) + 1
		} else {
			n = int(span/s.d) + 1
		}
		if n <= maxTicks {
			chosen = s
			break
		}
	}
	start := time.Unix(0, 0).Add(time.Duration(lo * 1e9)).UTC()
	end := time.Unix(0, 0).Add(time.Duration(hi * 1e9)).UTC()
	var ticks []gplot.Tick
	var prev time.Time
	add := func(t time.Time) {
		ticks = append(ticks, gplot.Tick{Value: float64(t.UnixNano()) / 1e9, Label: label(t, prev, chosen)})
		prev = t
	}
	if chosen.months > 0 {
		m := chosen.months
		y, mo := start.Year(), int(start.Month())-1
		idx := (y*12 + mo + m - 1) / m * m // first multiple of m months at or after start
		for ; ; idx += m {
			t := time.Date(idx/12, time.Month(idx%12+1), 1, 0, 0, 0, 0, time.UTC)
			if t.Before(start) {
				continue
			}
			if t.After(end) || len(ticks) > 2*maxTicks {
				break
			}
			add(t)
		}
		return ticks
	}
	// Fixed steps align to multiples since the epoch (days, hours, ...
	// fall on UTC midnights and whole hours); weeks start on Mondays.
	origin := time.Unix(0, 0).UTC()
	if chosen.d >= 7*24*time.Hour {
		origin = time.Date(1970, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday
	}
	off := start.Sub(origin)
	first := origin.Add((off + chosen.d - 1) / chosen.d * chosen.d)
	if off < 0 {
		first = origin.Add(off / chosen.d * chosen.d)
	}
	for t := first; !t.After(end) && len(ticks) <= 2*maxTicks; t = t.Add(chosen.d) {
		if !t.Before(start) {
			add(t)
		}
	}
	return ticks
}

// label formats tick t for step s; prev is the previous tick (zero for the
// first), so that the date is repeated only when it changes.
func label(t, prev time.Time, s step) string {
	newDay := prev.IsZero() || t.YearDay() != prev.YearDay() || t.Year() != prev.Year()
	switch {
	case s.months >= 12:
		return t.Format("2006")
	case s.months > 0:
		if prev.IsZero() || t.Year() != prev.Year() {
			return t.Format("Jan\n2006")
		}
		return t.Format("Jan")
	case s.d >= 24*time.Hour:
		if prev.IsZero() || t.Year() != prev.Year() {
			return t.Format("Jan 2\n2006")
		}
		return t.Format("Jan 2")
	}
	var clock string
	switch {
	case s.d < time.Second:
		clock = t.Format("15:04:05.000")
	case s.d < time.Minute:
		clock = t.Format("15:04:05")
	default:
		clock = t.Format("15:04")
	}
	if newDay {
		return clock + "\n" + t.Format("2006-01-02")
	}
	return clock
}
