package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-dev/sluice/internal/insights"
	"github.com/sluice-dev/sluice/internal/plot"
)

const plotUsage = `usage:
  sluice plot --csv FILE --out FILE.svg|FILE.png [--horizon N] [--level 95] [--model auto]
              [--sensitivity medium] [--title T] [--width 960] [--height 480] [--baseline]

Draws the timestamp,value series in FILE (- for standard input; the format is
the one 'sluice insights' reads) as a line, its anomalies as solid dots and,
with --horizon, its forecast as a bold line inside the shaded band of the
prediction interval at --level. The picture's format follows --out's
extension, or --format (needed when --out is - for standard output).
`

func runPlot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runPlotIO(ctx, args, os.Stdin, stdout, stderr)
}

func runPlotIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, plotUsage); fs.PrintDefaults() }
	in := fs.String("csv", "", "input CSV file of timestamp,value rows (- for standard input)")
	out := fs.String("out", "", "output picture, .svg or .png (- for standard output, with --format)")
	format := fs.String("format", "", "svg or png (default: from --out's extension)")
	horizon := fs.Int("horizon", 0, "steps to forecast (0: no forecast)")
	level := fs.Float64("level", 95, "prediction interval level in percent (or a fraction)")
	model := fs.String("model", "auto", "forecast model: auto, snaive, ets, holt-winters or an ets(...) shape")
	period := fs.Int("period", 0, "forecast seasonal period in steps (0 detects it, 1 none)")
	sens := fs.String("sensitivity", "medium", "anomalies: low, medium, high or a z threshold; none draws no anomalies")
	title := fs.String("title", "", "title (default: the input file's name)")
	width := fs.Int("width", plot.DefaultWidth, "width in pixels")
	height := fs.Int("height", plot.DefaultHeight, "height in pixels")
	baseline := fs.Bool("baseline", false, "also draw the anomaly detector's expected values as a dashed line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return err
	}
	if *in == "" || *out == "" || fs.NArg() != 0 {
		fmt.Fprint(stderr, plotUsage)
		return errUsage
	}
	f := *format
	if f == "" {
		if *out == "-" {
			return errors.New("writing to standard output needs --format svg or png")
		}
		var err error
		if f, err = plot.FormatFromPath(*out); err != nil {
			return err
		}
	}
	s, err := readSeriesFile(*in, stdin)
	if err != nil {
		return err
	}
	spec := plot.Spec{Title: *title, Observed: s, Width: *width, Height: *height}
	if spec.Title == "" && *in != "-" {
		spec.Title = filepath.Base(*in)
	}
	if !strings.EqualFold(*sens, "none") {
		z, err := insights.ParseSensitivity(*sens)
		if err != nil {
			return err
		}
		pts, err := insights.DetectAnomalies(s, insights.AnomalyOptions{Sensitivity: z})
		if err != nil {
			return fmt.Errorf("detecting anomalies in %s: %w", *in, err)
		}
		for _, p := range pts {
			if p.IsAnomaly {
				spec.Anomalies = append(spec.Anomalies, p)
			}
		}
		if *baseline {
			spec.Baseline = pts
		}
	}
	if *horizon > 0 {
		res, err := insights.Forecast(s, insights.ForecastOptions{Horizon: *horizon, Level: *level, Model: *model, Period: *period})
		if err != nil {
			return fmt.Errorf("forecasting %s: %w", *in, err)
		}
		spec.Forecast = res.Forecast
		spec.Level = res.Level * 100
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return writeOutput(*out, stdout, func(w io.Writer) error { return plot.Render(w, f, spec) })
}
