package api

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/insights"
	"github.com/sluice-dev/sluice/internal/plot"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
)

// plotRequest reads GET /v1/plot's query string: the series as for
// /v1/insights (sql=…, or table=…&measure=…&dim.NAME=VALUE&from=…&to=…),
// sensitivity (or "none"), horizon (0: no forecast), level, model, period,
// format (svg or png), width, height, title.
func plotRequest(q url.Values) (req insightRequest, format string, spec plot.Spec, err error) {
	req = insightRequest{SQL: q.Get("sql"), Table: q.Get("table"), Measure: q.Get("measure"), From: q.Get("from"), To: q.Get("to"), Model: q.Get("model")}
	for k, vs := range q {
		if name, ok := strings.CutPrefix(k, "dim."); ok && len(vs) > 0 {
			if req.Dimensions == nil {
				req.Dimensions = map[string]string{}
			}
			req.Dimensions[name] = vs[0]
		}
	}
	num := func(name string) (*float64, error) {
		s := q.Get(name)
		if s == "" {
			return nil, nil
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s=%q is not a number", name, s)
		}
		return &v, nil
	}
	integer := func(name string, lo, hi int) (*int, error) {
		s := q.Get(name)
		if s == "" {
			return nil, nil
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < lo || v > hi {
			return nil, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, s, lo, hi)
		}
		return &v, nil
	}
	if s := q.Get("sensitivity"); s != "" && s != "none" {
		v, perr := insights.ParseSensitivity(s)
		if perr != nil {
			return req, "", spec, fmt.Errorf("sensitivity: %v", perr)
		}
		req.Sensitivity = &v
	}
	if req.Level, err = num("level"); err != nil {
		return
	}
	if req.Horizon, err = integer("horizon", 0, 100000); err != nil {
		return
	}
	if req.Period, err = integer("period", 1, 100000); err != nil {
		return
	}
	w, err := integer("width", 100, 8000)
	if err != nil {
		return
	}
	h, err := integer("height", 100, 8000)
	if err != nil {
		return
	}
	format = q.Get("format")
	if format == "" {
		format = plot.SVG
	}
	if format != plot.SVG && format != plot.PNG {
		return req, "", spec, fmt.Errorf("format=%q: want svg or png", format)
	}
	spec.Title = q.Get("title")
	if spec.Title == "" {
		spec.Title = req.Measure
		for _, k := range sortedKeys(req.Dimensions) {
			spec.Title += " " + req.Dimensions[k]
		}
	}
	if w != nil {
		spec.Width = *w
	}
	if h != nil {
		spec.Height = *h
	}
	return req, format, spec, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// plotPoints reads the rows of an insight function's result.
func plotPoints(res *sluicesql.Result) ([]insights.Point, error) {
	b := res.Rows
	if b == nil {
		return nil, nil
	}
	col := func(name string, t columnar.Type) (*columnar.Column, error) {
		c := b.Col(name)
		if c == nil || c.Type != t {
			return nil, fmt.Errorf("the insight result has no %s column of type %s", name, t)
		}
		return c, nil
	}
	tc, err := col("time", columnar.Timestamp)
	if err != nil {
		return nil, err
	}
	var fc [5]*columnar.Column
	for i, n := range []string{"value", "expected", "lower", "upper", "score"} {
		if fc[i], err = col(n, columnar.Float64); err != nil {
			return nil, err
		}
	}
	ac, err := col("is_anomaly", columnar.Bool)
	if err != nil {
		return nil, err
	}
	f := func(c *columnar.Column, i int) float64 {
		if c.IsNull(i) {
			return math.NaN()
		}
		return c.Floats[i]
	}
	out := make([]insights.Point, b.Len())
	for i := range out {
		out[i] = insights.Point{Time: tc.Ints[i], Value: f(fc[0], i), Expected: f(fc[1], i), Lower: f(fc[2], i), Upper: f(fc[3], i),
			Score: f(fc[4], i), IsAnomaly: !ac.IsNull(i) && ac.Bools[i]}
	}
	return out, nil
}

// insightPoints runs insight fn for req and returns its rows; on failure
// it has answered the request and ok is false.
func (s *Server) insightPoints(w http.ResponseWriter, r *http.Request, fn string, req *insightRequest) (pts []insights.Point, ok bool) {
	sql, err := insightSQL(fn, req)
	if err != nil {
		writeError(w, errBadRequest, err.Error())
		return nil, false
	}
	res, err := s.querier.Query(r.Context(), sql, nil)
	if err != nil {
		writeQueryError(w, err)
		return nil, false
	}
	if pts, err = plotPoints(res); err != nil {
		writeError(w, errInternal, err.Error())
		return nil, false
	}
	return pts, true
}

// plot serves GET /v1/plot: the series with its anomalies as solid dots
// and, with horizon > 0, its forecast as a bold line in a shaded band. It
// runs the same SQL table functions as /v1/insights.
func (s *Server) plot(w http.ResponseWriter, r *http.Request) {
	if s.querier == nil {
		writeError(w, errNotImplemented, "the SQL engine is not enabled on this server")
		return
	}
	req, format, spec, err := plotRequest(r.URL.Query())
	if err != nil {
		writeError(w, errBadRequest, err.Error())
		return
	}
	horizon, level := req.Horizon, req.Level
	req.Horizon, req.Level = nil, nil
	model, period := req.Model, req.Period
	req.Model, req.Period = "", nil
	pts, ok := s.insightPoints(w, r, "anomalies", &req)
	if !ok {
		return
	}
	if len(pts) == 0 {
		writeError(w, errNotFound, "the series has no points")
		return
	}
	spec.Observed = insights.Series{Times: make([]int64, len(pts)), Values: make([]float64, len(pts))}
	for i, p := range pts {
		spec.Observed.Times[i], spec.Observed.Values[i] = p.Time, p.Value
		if p.IsAnomaly && r.URL.Query().Get("sensitivity") != "none" {
			spec.Anomalies = append(spec.Anomalies, p)
		}
	}
	if horizon != nil && *horizon > 0 {
		fr := req
		fr.Sensitivity, fr.Horizon, fr.Level, fr.Model, fr.Period = nil, horizon, level, model, period
		fpts, ok := s.insightPoints(w, r, "forecast", &fr)
		if !ok {
			return
		}
		for _, p := range fpts {
			if math.IsNaN(p.Value) {
				spec.Forecast = append(spec.Forecast, p)
			}
		}
		spec.Level = 95
		if level != nil {
			spec.Level = *level
			if spec.Level < 1 {
				spec.Level *= 100
			}
		}
	}
	var buf bytes.Buffer
	if err := plot.Render(&buf, format, spec); err != nil {
		writeError(w, errInternal, err.Error())
		return
	}
	if format == plot.SVG {
		w.Header().Set("Content-Type", "image/svg+xml")
	} else {
		w.Header().Set("Content-Type", "image/png")
	}
	w.Write(buf.Bytes())
}
