package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// insightRequest is the body of POST /v1/insights/{anomalies,forecast}: the
// series is a query returning (time, value[, key columns]) or a table,
// measure and dimension values; the options are those of the SQL table
// functions of the same names (internal/sql/plan/insights.go).
type insightRequest struct {
	SQL        string            `json:"sql"`
	Table      string            `json:"table"`
	Measure    string            `json:"measure"`
	Dimensions map[string]string `json:"dimensions"`
	From       string            `json:"from"` // a timestamp or SQL time expression, e.g. "ago(1d)"
	To         string            `json:"to"`

	Sensitivity *float64 `json:"sensitivity"`
	Horizon     *int     `json:"horizon"`
	Level       *float64 `json:"level"`
	Model       string   `json:"model"`
	Period      *int     `json:"period"`

	MaxRows   int    `json:"max_rows"`
	NextToken string `json:"next_token"`
}

// insightSQL turns a request into SELECT * FROM fn(…), so that the HTTP
// endpoints, SQL and Grafana run exactly the same code.
func insightSQL(fn string, req *insightRequest) (string, error) {
	var args []string
	query := ""
	switch {
	case strings.TrimSpace(req.SQL) != "":
		if req.Table != "" || req.Measure != "" || len(req.Dimensions) > 0 || req.From != "" || req.To != "" {
			return "", fmt.Errorf(`give either "sql" or "table" and "measure" (with "dimensions", "from", "to"), not both`)
		}
		query = strings.TrimRight(strings.TrimSpace(req.SQL), ";")
	case req.Table != "" && req.Measure != "":
		args = append(args, "table => "+sqlString(req.Table), "measure => "+sqlString(req.Measure))
		names := make([]string, 0, len(req.Dimensions))
		for k := range req.Dimensions {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			args = append(args, sqlIdent(k)+" => "+sqlString(req.Dimensions[k]))
		}
		for _, b := range []struct{ name, v string }{{"from", req.From}, {"to", req.To}} {
			if b.v == "" {
				continue
			}
			if _, err := time.Parse(time.RFC3339Nano, b.v); err == nil {
				args = append(args, b.name+" => from_iso8601_timestamp("+sqlString(b.v)+")")
			} else {
				// A SQL expression such as ago(1d); the parser rejects
				// anything that is not one expression.
				args = append(args, b.name+" => ("+b.v+")")
			}
		}
	default:
		return "", fmt.Errorf(`give "sql" (a query returning time and value) or "table" and "measure"`)
	}
	num := func(name string, v string) { args = append(args, name+" => "+v) }
	if req.Sensitivity != nil {
		num("sensitivity", strconv.FormatFloat(*req.Sensitivity, 'g', -1, 64))
	}
	if fn == "forecast" {
		if req.Horizon != nil {
			num("horizon", strconv.Itoa(*req.Horizon))
		}
		if req.Level != nil {
			num("level", strconv.FormatFloat(*req.Level, 'g', -1, 64))
		}
		if req.Model != "" {
			num("model", sqlString(req.Model))
		}
		if req.Period != nil {
			num("period", strconv.Itoa(*req.Period))
		}
	} else if req.Horizon != nil || req.Level != nil || req.Model != "" || req.Period != nil {
		return "", fmt.Errorf("horizon, level, model and period are options of forecast, not of anomalies")
	}
	if query != "" {
		// Last, after the options: a query without parentheses runs to
		// the closing parenthesis.
		args = append(args, query)
	}
	return "SELECT * FROM " + fn + "(" + strings.Join(args, ", ") + ")", nil
}

// InsightStatement returns the statement POST /v1/insights/{fn} runs for
// r and its body, for an access check before the handler (internal/auth's
// Guard checks its tables as those of /v1/query). A request the handler
// would refuse gets an error.
func InsightStatement(r *http.Request, body []byte) (string, error) {
	fn := r.PathValue("fn")
	if fn != "anomalies" && fn != "forecast" {
		return "", fmt.Errorf("unknown insight %q (want anomalies or forecast)", fn)
	}
	var req insightRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return "", fmt.Errorf("request body: %w", err)
	}
	return insightSQL(fn, &req)
}

// PlotStatement is InsightStatement for GET /v1/plot: the anomalies
// statement, which reads what the forecast reads too.
func PlotStatement(r *http.Request, _ []byte) (string, error) {
	req, _, _, err := plotRequest(r.URL.Query())
	if err != nil {
		return "", err
	}
	req.Horizon, req.Level, req.Model, req.Period = nil, nil, "", nil
	return insightSQL("anomalies", &req)
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
func sqlIdent(s string) string  { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// insights serves POST /v1/insights/{fn}: the answer has the /v1/query
// shape (columns, rows, next_token, stats), or CSV with Accept: text/csv.
func (s *Server) insights(w http.ResponseWriter, r *http.Request) {
	if s.querier == nil {
		writeError(w, errNotImplemented, "the SQL engine is not enabled on this server")
		return
	}
	fn := r.PathValue("fn")
	if fn != "anomalies" && fn != "forecast" {
		writeError(w, errNotFound, fmt.Sprintf("unknown insight %q (want anomalies or forecast)", fn))
		return
	}
	var req insightRequest
	if !s.decode(w, r, &req) {
		return
	}
	sql, err := insightSQL(fn, &req)
	if err != nil {
		writeError(w, errBadRequest, err.Error())
		return
	}
	if req.MaxRows < 0 {
		writeError(w, errBadRequest, "max_rows must be positive")
		return
	}
	if req.MaxRows == 0 {
		req.MaxRows = 100000
	}
	offset := 0
	if req.NextToken != "" {
		if offset, err = decodeToken(req.NextToken, sql); err != nil {
			writeError(w, errBadRequest, err.Error())
			return
		}
	}
	start := time.Now()
	res, err := s.querier.Query(r.Context(), sql, nil)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	s.writeResult(w, r, res, sql, offset, req.MaxRows, time.Since(start))
}
