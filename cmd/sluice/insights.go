package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sluice-dev/sluice/internal/insights"
	"github.com/sluice-dev/sluice/internal/insights/csvio"
)

const insightsUsage = `usage:
  sluice insights anomalies --csv FILE [--sensitivity low|medium|high|Z] [--out FILE]
  sluice insights forecast  --csv FILE --horizon N [--level 95] [--model auto] [--period P] [--out FILE]

Reads timestamp,value CSV (FILE "-" is standard input; a header row is
optional; times are RFC 3339 or epoch seconds, milliseconds, microseconds or
nanoseconds, told apart by magnitude) and writes CSV with the header
time,value,expected,lower,upper,score,is_anomaly to standard output or --out.
anomalies writes one row per input point. forecast writes the model's fitted
rows for the input, then N rows beyond it with an empty value; score and
is_anomaly are empty there (they do not apply).
`

func runInsights(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runInsightsIO(ctx, args, os.Stdin, stdout, stderr)
}

func runInsightsIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "anomalies" && args[0] != "forecast") {
		fmt.Fprint(stderr, insightsUsage)
		return errUsage
	}
	kind := args[0]
	fs := flag.NewFlagSet("sluice insights "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, insightsUsage); fs.PrintDefaults() }
	in := fs.String("csv", "", "input CSV file of timestamp,value rows (- for standard input)")
	out := fs.String("out", "-", "output CSV file (- for standard output)")
	sens := fs.String("sensitivity", "medium", "anomalies: low, medium, high or a z threshold (robust standard deviations)")
	horizon := fs.Int("horizon", 0, "forecast: steps to forecast, at the series' sampling interval")
	level := fs.Float64("level", 95, "forecast: prediction interval level in percent (or a fraction)")
	model := fs.String("model", "auto", "forecast: auto, snaive, ets, holt-winters or an ets(...) shape")
	period := fs.Int("period", 0, "forecast: seasonal period in steps (0 detects it, 1 none)")
	verbose := fs.Bool("v", false, "forecast: report the chosen model on standard error")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return err
	}
	if *in == "" || fs.NArg() != 0 {
		fmt.Fprint(stderr, insightsUsage)
		return errUsage
	}
	s, err := readSeriesFile(*in, stdin)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return writeOutput(*out, stdout, func(w io.Writer) error {
		switch kind {
		case "anomalies":
			z, err := insights.ParseSensitivity(*sens)
			if err != nil {
				return err
			}
			pts, err := insights.DetectAnomalies(s, insights.AnomalyOptions{Sensitivity: z})
			if err != nil {
				return fmt.Errorf("detecting anomalies in %s: %w", *in, err)
			}
			return writePoints(w, true, pts)
		default:
			if *horizon < 1 {
				return errors.New("forecast needs --horizon N (N >= 1)")
			}
			res, err := insights.Forecast(s, insights.ForecastOptions{Horizon: *horizon, Level: *level, Model: *model, Period: *period})
			if err != nil {
				return fmt.Errorf("forecasting %s: %w", *in, err)
			}
			if *verbose {
				fmt.Fprintf(stderr, "model %s, period %d, interval %s, level %g, sigma %.4g, %d steps (%d filled)\n",
					res.Model, res.Period, res.Interval, res.Level, res.Params.Sigma, res.Steps, res.Filled)
			}
			return writePoints(w, false, res.Fitted, res.Forecast)
		}
	})
}

// readSeriesFile reads timestamp,value CSV from path, or stdin for "-".
func readSeriesFile(path string, stdin io.Reader) (insights.Series, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return insights.Series{}, fmt.Errorf("reading series: %w", err)
		}
		defer f.Close()
		r = f
	}
	s, err := csvio.ReadSeries(r)
	if err != nil {
		return insights.Series{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if s.Len() == 0 {
		return insights.Series{}, fmt.Errorf("reading %s: no rows with a time and a value", path)
	}
	return s, nil
}

func writePoints(w io.Writer, scored bool, sets ...[]insights.Point) error {
	cw := csvio.NewWriter(w, scored)
	for _, pts := range sets {
		for _, p := range pts {
			if err := cw.Write(p); err != nil {
				return err
			}
		}
	}
	return cw.Flush()
}

// writeOutput runs write against stdout for "-", or against a temporary
// file renamed over path once complete, so that a failed run leaves no
// half-written file behind.
func writeOutput(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" || path == "" {
		return write(stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("creating output: %w", err)
	}
	tmp := f.Name()
	_ = f.Chmod(0o644) // CreateTemp's 0600 is for secrets; this is a result file
	if err := write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
