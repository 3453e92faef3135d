package bench

// The forecast part of the "insights" suite: insights.Forecast's automatic
// model against seasonal naive, on the real M4 Hourly set (414 series,
// horizon 48, https://github.com/Mcompetitions/M4-methods) and on held-out
// simulator data. Figures, per the M4 competition's definitions:
//
//   - sMAPE: mean over a series' horizon of 200·|y−f|/(|y|+|f|), then the
//     mean over series;
//   - MASE: mean absolute error over the horizon divided by the in-sample
//     mean absolute error of seasonal naive with m = 24 (M4 Hourly; for
//     simulator data m is a day's steps), then the mean over series;
//   - coverage: the share of held-out values inside the 80 % and 95 %
//     prediction intervals, pooled over all series and steps.
//
// Targets (issue 6): the auto model's MASE below seasonal naive's, and
// coverage within ±5 points of nominal.
//
// The 80 % band is derived from the 95 % one (same centre, width scaled by
// z₀.₉/z₀.₉₇₅): both intervals are normal with the same σ_h, so this is
// exactly what a second run at level 0.8 would give, for half the work.

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/sluice-dev/sluice/internal/insights"
	"github.com/sluice-dev/sluice/internal/simulate"
)

// defaultM4Dir is where the M4 Hourly set lives, relative to the
// repository's root (it is not part of a clone).
const defaultM4Dir = "../shared/data/m4-hourly"

// forecastConfig holds the forecast part's settings.
type forecastConfig struct {
	m4Dir       string
	horizon     int
	m4Limit     int
	simDevices  int
	simDays     int
	simInterval time.Duration
	simSeeds    int
	workers     int
	model       string
}

// forecastFlags registers the forecast part's flags on fs (all prefixed
// "forecast-") and returns its run and --quick functions.
func forecastFlags(fs *flag.FlagSet) (func(*run) error, func(set map[string]bool)) {
	c := &forecastConfig{}
	fs.StringVar(&c.m4Dir, "forecast-m4", defaultM4Dir, "`directory` of the M4 Hourly set (Hourly-train.csv, Hourly-test.csv); a relative path is tried from the working directory, then from the repository's root; skipped when absent")
	fs.IntVar(&c.horizon, "forecast-horizon", 48, "forecast horizon in steps (M4 Hourly's is 48)")
	fs.IntVar(&c.m4Limit, "forecast-m4-series", 0, "use only the first `n` M4 series (0 = all 414)")
	fs.IntVar(&c.simDevices, "forecast-sim-devices", 25, "simulated devices per seed for the held-out forecast data (4 measures each)")
	fs.IntVar(&c.simDays, "forecast-sim-days", 28, "days of simulated history before the held-out horizon")
	fs.DurationVar(&c.simInterval, "forecast-sim-interval", time.Hour, "sampling interval of the simulated forecast data")
	fs.IntVar(&c.simSeeds, "forecast-sim-seeds", 2, "simulator seeds for the forecast data")
	fs.IntVar(&c.workers, "forecast-workers", runtime.NumCPU(), "series forecast in parallel")
	fs.StringVar(&c.model, "forecast-model", insights.ModelAuto, "model judged against seasonal naive: auto, ets, ets(A,Ad,A), …")
	quick := func(set map[string]bool) {
		if !set["forecast-m4-series"] {
			c.m4Limit = 60
		}
		if !set["forecast-sim-devices"] {
			c.simDevices = 5
		}
		if !set["forecast-sim-seeds"] {
			c.simSeeds = 1
		}
	}
	return func(r *run) error { return runInsightsForecast(r, c) }, quick
}

// forecastSeries is one series with its held-out continuation.
type forecastSeries struct {
	id    string
	s     insights.Series
	test  []float64
	scale int // MASE seasonal period
}

// forecastTally accumulates one model's figures over series.
type forecastTally struct {
	mase, smape   float64
	series        int
	in80, in95, k int
}

func (t *forecastTally) add(o forecastTally) {
	t.mase += o.mase
	t.smape += o.smape
	t.series += o.series
	t.in80 += o.in80
	t.in95 += o.in95
	t.k += o.k
}

// runInsightsForecast runs the forecast part: M4 (when present) and the
// simulator.
func runInsightsForecast(r *run, c *forecastConfig) error {
	if c.horizon < 1 || c.workers < 1 || c.simDays < 1 || c.simSeeds < 0 || c.simDevices < 0 || c.simInterval <= 0 {
		return errors.New("--forecast-horizon, --forecast-workers, --forecast-sim-days and --forecast-sim-interval must be positive")
	}
	{
		dir, ok := locateM4(c.m4Dir)
		if !ok {
			r.logf("forecast/m4: skipped: the M4 Hourly set is not at %s (it lives outside the repository, in ../shared/data/m4-hourly; pass --forecast-m4 DIR)", c.m4Dir)
		} else {
			series, err := loadM4(dir, c.horizon, c.m4Limit)
			if err != nil {
				return err
			}
			if err := evalForecasts(r, c, "forecast/m4", series); err != nil {
				return err
			}
		}
	}
	if c.simDevices > 0 && c.simSeeds > 0 {
		var series []forecastSeries
		for seed := 1; seed <= c.simSeeds; seed++ {
			ss, err := simForecastSeries(r.ctx, int64(seed), c)
			if err != nil {
				return err
			}
			series = append(series, ss...)
		}
		if err := evalForecasts(r, c, "forecast/sim", series); err != nil {
			return err
		}
	}
	return nil
}

// locateM4 finds the M4 directory: dir as given (absolute, or relative to
// the working directory), else relative to the repository's root, found by
// walking up from the working directory to the go.mod of this module.
func locateM4(dir string) (string, bool) {
	has := func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "Hourly-train.csv"))
		return err == nil
	}
	if has(dir) {
		return dir, true
	}
	if filepath.IsAbs(dir) {
		return dir, false
	}
	wd, err := os.Getwd()
	if err != nil {
		return dir, false
	}
	for d := wd; ; {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/sluice-dev/sluice\n") {
			if p := filepath.Join(d, dir); has(p) {
				return p, true
			}
			return dir, false
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir, false
		}
		d = parent
	}
}

// loadM4 reads the M4 Hourly training and test files: one series per row,
// the id first, then the values (quoted), the row padded with empty fields.
// Times are hourly from 2000-01-01 (M4 Hourly carries no dates).
func loadM4(dir string, horizon, limit int) ([]forecastSeries, error) {
	train, err := readM4(filepath.Join(dir, "Hourly-train.csv"))
	if err != nil {
		return nil, err
	}
	testRows, err := readM4(filepath.Join(dir, "Hourly-test.csv"))
	if err != nil {
		return nil, err
	}
	test := testRows.byID()
	t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	var out []forecastSeries
	for _, tr := range train {
		if limit > 0 && len(out) == limit {
			break
		}
		te, ok := test[tr.id]
		if !ok {
			return nil, fmt.Errorf("forecast/m4: series %s has no test values", tr.id)
		}
		if len(te.v) < horizon {
			return nil, fmt.Errorf("forecast/m4: series %s has %d test values, --horizon is %d", tr.id, len(te.v), horizon)
		}
		s := insights.Series{Times: make([]int64, len(tr.v)), Values: tr.v}
		for i := range s.Times {
			s.Times[i] = t0 + int64(i)*int64(time.Hour)
		}
		out = append(out, forecastSeries{id: tr.id, s: s, test: te.v[:horizon], scale: 24})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("forecast/m4: no series in %s", dir)
	}
	return out, nil
}

type m4Row struct {
	id string
	v  []float64
}

// readM4 returns the rows of an M4 file in file order (and, through the
// map's values, by id).
func readM4(path string) (rowsByID, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("forecast/m4: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	if _, err := cr.Read(); err != nil { // header
		return nil, fmt.Errorf("forecast/m4: read %s: %w", path, err)
	}
	var rows rowsByID
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("forecast/m4: read %s: %w", path, err)
		}
		row := m4Row{id: rec[0]}
		for _, field := range rec[1:] {
			if field == "" {
				break
			}
			v, err := strconv.ParseFloat(field, 64)
			if err != nil {
				return nil, fmt.Errorf("forecast/m4: %s line %d: %w", path, line, err)
			}
			row.v = append(row.v, v)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// rowsByID is an M4 file's rows in order; index by id with the map form.
type rowsByID []m4Row

func (rs rowsByID) byID() map[string]m4Row {
	m := make(map[string]m4Row, len(rs))
	for _, r := range rs {
		m[r.id] = r
	}
	return m
}

// simForecastSeries generates c.simDevices devices' four measures at
// c.simInterval for c.simDays days plus the horizon (faults off), and holds
// out the last c.horizon values of each series.
func simForecastSeries(ctx context.Context, seed int64, c *forecastConfig) ([]forecastSeries, error) {
	steps := int(time.Duration(c.simDays)*24*time.Hour/c.simInterval) + c.horizon
	g, err := simulate.NewGenerator(simulate.Options{
		Devices:  c.simDevices,
		Rate:     float64(time.Second) / float64(c.simInterval),
		Seed:     seed,
		Start:    time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		Duration: time.Duration(steps) * c.simInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("forecast/sim: %w", err)
	}
	measures := simulate.Measures()
	series := make([]insights.Series, c.simDevices*len(measures))
	var buf []byte
	for n := 0; ; n++ {
		if n%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		var ev simulate.Event
		var ok bool
		buf, ev, ok = g.Next(buf[:0])
		if !ok {
			break
		}
		for m := range measures {
			s := &series[ev.Device*len(measures)+m]
			if s.Len() >= steps {
				continue
			}
			s.Times = append(s.Times, ev.Time.UnixNano())
			s.Values = append(s.Values, ev.Values[m])
		}
	}
	day := int(24 * time.Hour / c.simInterval)
	ids := g.DeviceIDs()
	out := make([]forecastSeries, 0, len(series))
	for i, s := range series {
		if s.Len() < steps {
			return nil, fmt.Errorf("forecast/sim: series %d has %d values, want %d", i, s.Len(), steps)
		}
		k := s.Len() - c.horizon
		out = append(out, forecastSeries{
			id:    fmt.Sprintf("seed%d/%s/%s", seed, ids[i/len(measures)], measures[i%len(measures)]),
			s:     insights.Series{Times: s.Times[:k], Values: s.Values[:k]},
			test:  s.Values[k:],
			scale: max(day, 1),
		})
	}
	return out, nil
}

// evalForecasts forecasts every series with c.model and with seasonal
// naive, in parallel, and records the figures under group.
func evalForecasts(r *run, c *forecastConfig, group string, series []forecastSeries) error {
	var auto, naive forecastTally
	var mu sync.Mutex
	var done atomic.Int64
	var firstErr error
	var models sync.Map // model name → *atomic.Int64, how often chosen
	stop := r.progress.start(fmt.Sprintf("%s: forecast %d series × %d steps (%s vs snaive, %d workers)", group, len(series), c.horizon, c.model, c.workers),
		func(el time.Duration) string {
			return countStatus(float64(done.Load()), float64(len(series)), "series", el)
		})
	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range c.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a, b forecastTally
			for i := range jobs {
				fs := series[i]
				ra, err := insights.Forecast(fs.s, insights.ForecastOptions{Horizon: c.horizon, Level: 0.95, Model: c.model})
				if err == nil {
					v, _ := models.LoadOrStore(fmt.Sprintf("%s/%d", ra.Model, ra.Period), new(atomic.Int64))
					v.(*atomic.Int64).Add(1)
					a.add(scoreForecast(fs, ra.Forecast))
				}
				var rb insights.ForecastResult
				if err == nil {
					rb, err = insights.Forecast(fs.s, insights.ForecastOptions{Horizon: c.horizon, Level: 0.95, Model: insights.ModelSNaive, Period: fs.scale})
				}
				if err == nil {
					b.add(scoreForecast(fs, rb.Forecast))
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%s: series %s: %w", group, fs.id, err)
					}
					mu.Unlock()
				}
				done.Add(1)
			}
			mu.Lock()
			auto.add(a)
			naive.add(b)
			mu.Unlock()
		}()
	}
feed:
	for i := range series {
		select {
		case jobs <- i:
		case <-r.ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	stop()
	if firstErr != nil {
		return firstErr
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	var chosen []string
	models.Range(func(k, v any) bool {
		chosen = append(chosen, fmt.Sprintf("%s×%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	r.logf("%s: models chosen: %s", group, strings.Join(sortedStrings(chosen), ", "))

	n := float64(auto.series)
	autoMASE, naiveMASE := auto.mase/n, naive.mase/float64(naive.series)
	r.add(group+"/series", n, "series", nil)
	r.add(group+"/auto/mase", autoMASE, "", atMost(naiveMASE))
	r.add(group+"/snaive/mase", naiveMASE, "", nil)
	r.add(group+"/auto/smape", auto.smape/n, "%", atMost(naive.smape/float64(naive.series)))
	r.add(group+"/snaive/smape", naive.smape/float64(naive.series), "%", nil)
	for _, x := range []struct {
		name    string
		t       *forecastTally
		in      int
		nominal float64
	}{{"auto/coverage80", &auto, auto.in80, 80}, {"auto/coverage95", &auto, auto.in95, 95},
		{"snaive/coverage80", &naive, naive.in80, 80}, {"snaive/coverage95", &naive, naive.in95, 95}} {
		cov := 100 * float64(x.in) / float64(x.t.k)
		var lo, hi *target
		if strings.HasPrefix(x.name, "auto/") {
			lo, hi = atLeast(x.nominal-5), atMost(x.nominal+5)
		}
		r.add(group+"/"+x.name, cov, "%", lo)
		if hi != nil {
			// Both sides of ±5 points: the lower bound is on the line
			// above, the upper one here.
			r.add(group+"/"+x.name+"/max", cov, "%", hi)
		}
	}
	r.add(group+"/forecasts-per-s", 2*n/elapsed.Seconds(), "series/s", nil)
	return nil
}

// scoreForecast scores one forecast against fs.test.
func scoreForecast(fs forecastSeries, fc []insights.Point) forecastTally {
	h := len(fs.test)
	f := make([]float64, h)
	z95 := distuv.UnitNormal.Quantile(0.975)
	z80 := distuv.UnitNormal.Quantile(0.9)
	var t forecastTally
	for i, p := range fc[:h] {
		f[i] = p.Expected
		y := fs.test[i]
		if y >= p.Lower && y <= p.Upper {
			t.in95++
		}
		w := (p.Upper - p.Expected) * z80 / z95
		if y >= p.Expected-w && y <= p.Expected+w {
			t.in80++
		}
	}
	t.k = h
	t.series = 1
	t.mase = insights.MASE(fs.test, f, fs.s.Values, fs.scale)
	t.smape = insights.SMAPE(fs.test, f)
	if math.IsNaN(t.mase) || math.IsInf(t.mase, 0) {
		t.mase = 0
	}
	return t
}

func sortedStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}
