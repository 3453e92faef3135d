// Package api is sluice's native HTTP API: the catalog (databases, tables,
// retention), direct record writes in Timestream's WriteRecords shape,
// table scans, admin flush and compaction, health and metrics. Ingest of
// device events is mounted beside it by internal/app (internal/ingest).
//
// Errors are JSON, {"error": {"code": "...", "message": "..."}}, with the
// codes and statuses of the errors table in errors.go. Handlers are safe
// for concurrent use.
package api

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/timestream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// Store is what the API needs of the storage engine.
type Store interface {
	CreateDatabase(ctx context.Context, name string) (tsdb.DatabaseInfo, error)
	Databases(ctx context.Context) []tsdb.DatabaseInfo
	Database(ctx context.Context, name string) (tsdb.DatabaseInfo, error)
	DeleteDatabase(ctx context.Context, name string) error
	CreateTable(ctx context.Context, db, name string, opts tsdb.TableOptions) (tsdb.TableInfo, error)
	Tables(ctx context.Context, db string) ([]tsdb.TableInfo, error)
	Table(ctx context.Context, db, name string) (tsdb.TableInfo, error)
	UpdateTable(ctx context.Context, db, name string, opts tsdb.TableOptions) (tsdb.TableInfo, error)
	DeleteTable(ctx context.Context, db, name string) error
	Write(ctx context.Context, db, table string, recs []tsdb.Record) ([]tsdb.Reject, error)
	Scan(ctx context.Context, req tsdb.ScanRequest, fn func(*columnar.Batch) error) error
	Latest(ctx context.Context, req tsdb.ScanRequest, fn func(*columnar.Batch) error) error
	Schema(ctx context.Context, db, table string) ([]tsdb.ColumnInfo, error)
	Flush(ctx context.Context) error
	Compact(ctx context.Context) error
}

// Flusher is flushed by POST /v1/admin/flush besides the store (the lake
// writer's buffers, later).
type Flusher interface {
	Flush(ctx context.Context) error
}

// Server holds the API's dependencies.
type Server struct {
	store    Store
	flushers []Flusher
	logger   *slog.Logger
	maxBody  int64
	querier  Querier
	// bufs recycles the buffers query answers are built in (*[]byte): a
	// series-hour is ~150 KB, and allocating and zeroing it per query
	// cost more than encoding it.
	bufs sync.Pool
}

// New returns the API over store.
func New(store Store, logger *slog.Logger, flushers ...Flusher) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{store: store, flushers: flushers, logger: logger, maxBody: 8 << 20}
}

// Register adds the API's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/databases", s.listDatabases)
	mux.HandleFunc("POST /v1/databases", s.createDatabase)
	mux.HandleFunc("GET /v1/databases/{db}", s.getDatabase)
	mux.HandleFunc("DELETE /v1/databases/{db}", s.deleteDatabase)
	mux.HandleFunc("GET /v1/databases/{db}/tables", s.listTables)
	mux.HandleFunc("POST /v1/databases/{db}/tables", s.createTable)
	mux.HandleFunc("GET /v1/databases/{db}/tables/{table}", s.getTable)
	mux.HandleFunc("PATCH /v1/databases/{db}/tables/{table}", s.updateTable)
	mux.HandleFunc("DELETE /v1/databases/{db}/tables/{table}", s.deleteTable)
	mux.HandleFunc("POST /v1/databases/{db}/tables/{table}/records", s.writeRecords)
	mux.HandleFunc("GET /v1/databases/{db}/tables/{table}/rows", s.rows)
	mux.HandleFunc("POST /v1/admin/flush", s.flush)
	mux.HandleFunc("POST /v1/admin/compact", s.compact)
	mux.HandleFunc("POST /v1/query", s.query)
	mux.HandleFunc("POST /v1/insights/{fn}", s.insights)
	mux.HandleFunc("GET /v1/plot", s.plot)
	mux.HandleFunc("POST /v1/lake/infer", s.lakeInfer)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, s.maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, errTooLarge, fmt.Sprintf("request body is over %d bytes", mbe.Limit))
			return false
		}
		writeError(w, errBadRequest, "request body: "+err.Error())
		return false
	}
	return true
}

// Catalog.

type databaseJSON struct {
	Name       string    `json:"name"`
	TableCount int       `json:"table_count"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
}

func dbJSON(d tsdb.DatabaseInfo) databaseJSON {
	return databaseJSON{d.Name, d.TableCount, d.Created, d.Updated}
}

type retentionJSON struct {
	MemoryHours  float64 `json:"memory_hours"`
	MagneticDays float64 `json:"magnetic_days"`
}

type tableJSON struct {
	Database            string        `json:"database"`
	Name                string        `json:"name"`
	Retention           retentionJSON `json:"retention"`
	MagneticStoreWrites bool          `json:"magnetic_store_writes"`
	System              bool          `json:"system,omitempty"`
	Created             time.Time     `json:"created"`
	Updated             time.Time     `json:"updated"`
}

func tblJSON(t tsdb.TableInfo) tableJSON {
	return tableJSON{t.Database, t.Name, retentionJSON{t.Retention.Memory.Hours(), t.Retention.Magnetic.Hours() / 24}, t.MagneticStoreWrites, t.System, t.Created, t.Updated}
}

func (s *Server) listDatabases(w http.ResponseWriter, r *http.Request) {
	out := []databaseJSON{}
	for _, d := range s.store.Databases(r.Context()) {
		out = append(out, dbJSON(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"databases": out})
}

func (s *Server) createDatabase(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	d, err := s.store.CreateDatabase(r.Context(), req.Name)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, dbJSON(d))
}

func (s *Server) getDatabase(w http.ResponseWriter, r *http.Request) {
	d, err := s.store.Database(r.Context(), r.PathValue("db"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, dbJSON(d))
}

func (s *Server) deleteDatabase(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteDatabase(r.Context(), r.PathValue("db")); err != nil {
		writeStoreError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listTables(w http.ResponseWriter, r *http.Request) {
	ts, err := s.store.Tables(r.Context(), r.PathValue("db"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	out := []tableJSON{}
	for _, t := range ts {
		out = append(out, tblJSON(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tables": out})
}

type tableOptionsJSON struct {
	Name                string         `json:"name"`
	Retention           *retentionJSON `json:"retention"`
	MagneticStoreWrites *bool          `json:"magnetic_store_writes"`
}

func (o *tableOptionsJSON) options() (tsdb.TableOptions, error) {
	opts := tsdb.TableOptions{MagneticStoreWrites: o.MagneticStoreWrites}
	if o.Retention != nil {
		if o.Retention.MemoryHours < 0 || o.Retention.MagneticDays < 0 {
			return opts, fmt.Errorf("%w: retention must be positive", tsdb.ErrInvalid)
		}
		opts.Retention.Memory = time.Duration(o.Retention.MemoryHours * float64(time.Hour))
		opts.Retention.Magnetic = time.Duration(o.Retention.MagneticDays * 24 * float64(time.Hour))
	}
	return opts, nil
}

func (s *Server) createTable(w http.ResponseWriter, r *http.Request) {
	var req tableOptionsJSON
	if !s.decode(w, r, &req) {
		return
	}
	opts, err := req.options()
	if err == nil {
		var t tsdb.TableInfo
		if t, err = s.store.CreateTable(r.Context(), r.PathValue("db"), req.Name, opts); err == nil {
			writeJSON(w, http.StatusCreated, tblJSON(t))
			return
		}
	}
	writeStoreError(w, err)
}

func (s *Server) getTable(w http.ResponseWriter, r *http.Request) {
	t, err := s.store.Table(r.Context(), r.PathValue("db"), r.PathValue("table"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	schema, err := s.store.Schema(r.Context(), t.Database, t.Name)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	type col struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Kind string `json:"kind"`
	}
	cols := []col{}
	for _, c := range schema {
		cols = append(cols, col{c.Name, c.Type.String(), c.Kind})
	}
	writeJSON(w, http.StatusOK, struct {
		tableJSON
		Columns []col `json:"columns"`
	}{tblJSON(t), cols})
}

func (s *Server) updateTable(w http.ResponseWriter, r *http.Request) {
	var req tableOptionsJSON
	if !s.decode(w, r, &req) {
		return
	}
	opts, err := req.options()
	if err == nil {
		var t tsdb.TableInfo
		if t, err = s.store.UpdateTable(r.Context(), r.PathValue("db"), r.PathValue("table"), opts); err == nil {
			writeJSON(w, http.StatusOK, tblJSON(t))
			return
		}
	}
	writeStoreError(w, err)
}

func (s *Server) deleteTable(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteTable(r.Context(), r.PathValue("db"), r.PathValue("table")); err != nil {
		writeStoreError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeRecords takes Timestream's WriteRecords body. It answers 200 with
// RecordsIngested when every record was stored, and otherwise lists the
// RejectedRecords (index, reason, existing version): 200 when some were
// stored, 400 when none were.
func (s *Server) writeRecords(w http.ResponseWriter, r *http.Request) {
	var req timestream.WriteRequest
	if !s.decode(w, r, &req) {
		return
	}
	if len(req.Records) == 0 {
		writeError(w, errBadRequest, "Records is empty")
		return
	}
	if len(req.Records) > 10*timestream.MaxRecords*100 {
		writeError(w, errTooLarge, fmt.Sprintf("%d records in one request; send at most %d", len(req.Records), 10*timestream.MaxRecords*100))
		return
	}
	recs, idx, rejected := timestream.Convert(&req)
	if len(recs) > 0 {
		rejects, err := s.store.Write(r.Context(), r.PathValue("db"), r.PathValue("table"), recs)
		if err != nil {
			writeStoreError(w, err)
			return
		}
		for _, rj := range rejects {
			rr := timestream.RejectedRecord{RecordIndex: idx[rj.Index], Reason: rj.Reason}
			if rj.ExistingVersion != 0 {
				v := rj.ExistingVersion
				rr.ExistingVersion = &v
			}
			rejected = append(rejected, rr)
		}
	}
	ingested := len(req.Records) - len(rejected)
	status := http.StatusOK
	if ingested == 0 {
		status = http.StatusBadRequest
	}
	out := map[string]any{"RecordsIngested": map[string]int{"Total": ingested, "MemoryStore": ingested, "MagneticStore": 0}}
	if len(rejected) > 0 {
		sortRejected(rejected)
		out["RejectedRecords"] = rejected
	}
	writeJSON(w, status, out)
}

func sortRejected(rs []timestream.RejectedRecord) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].RecordIndex < rs[j-1].RecordIndex; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// rows answers a table scan without SQL:
//
//	GET /v1/databases/{db}/tables/{table}/rows?measure=temperature&dim.DeviceID=abc&from=RFC3339&to=RFC3339&latest=true&limit=100&columns=a,b
//
// It returns the same shape as /v1/query.
func (s *Server) rows(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := tsdb.ScanRequest{Database: r.PathValue("db"), Table: r.PathValue("table"), MinTime: math.MinInt64, MaxTime: math.MaxInt64}
	var err error
	if v := q.Get("from"); v != "" {
		if req.MinTime, err = parseTime(v); err != nil {
			writeError(w, errBadRequest, "from: "+err.Error())
			return
		}
	}
	if v := q.Get("to"); v != "" {
		if req.MaxTime, err = parseTime(v); err != nil {
			writeError(w, errBadRequest, "to: "+err.Error())
			return
		}
	}
	if ms := q["measure"]; len(ms) > 0 {
		req.MeasureNames = ms
	}
	if v := q.Get("columns"); v != "" {
		req.Columns = strings.Split(v, ",")
	}
	for k, vs := range q {
		if name, ok := strings.CutPrefix(k, "dim."); ok {
			req.Dims = append(req.Dims, tsdb.DimFilter{Name: name, Values: vs})
		}
	}
	limit := 10000
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			writeError(w, errBadRequest, "limit must be a positive integer")
			return
		}
	}
	res := newResult(limit)
	scan := s.store.Scan
	if q.Get("latest") == "true" {
		scan = s.store.Latest
	}
	err = scan(r.Context(), req, res.add)
	if err != nil && !errors.Is(err, errLimit) {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res.json())
}

func parseTime(s string) (int64, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixNano(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("%q is neither RFC 3339 nor nanoseconds since the epoch", s)
}

var errLimit = errors.New("limit reached")

// result collects batches into the /v1/query response shape.
type result struct {
	limit   int
	columns []map[string]string
	rows    [][]any
}

func newResult(limit int) *result { return &result{limit: limit} }

func (res *result) add(b *columnar.Batch) error {
	if res.columns == nil {
		for i, n := range b.Names {
			res.columns = append(res.columns, map[string]string{"name": n, "type": b.Cols[i].Type.String()})
		}
	}
	for i := 0; i < b.Len(); i++ {
		if len(res.rows) >= res.limit {
			return errLimit
		}
		row := make([]any, len(b.Cols))
		for j, c := range b.Cols {
			row[j] = FormatValue(c, i)
		}
		res.rows = append(res.rows, row)
	}
	return nil
}

func (res *result) json() map[string]any {
	if res.columns == nil {
		res.columns = []map[string]string{}
	}
	if res.rows == nil {
		res.rows = [][]any{}
	}
	return map[string]any{"columns": res.columns, "rows": res.rows, "next_token": nil, "stats": map[string]any{"rows": len(res.rows)}}
}

// FormatValue renders one value as /v1/query does: numbers and booleans as
// JSON values, NULL as null, timestamps in Timestream's format.
func FormatValue(c *columnar.Column, i int) any {
	if c.IsNull(i) {
		return nil
	}
	switch c.Type {
	case columnar.Timestamp:
		return time.Unix(0, c.Ints[i]).UTC().Format("2006-01-02 15:04:05.000000000")
	case columnar.Float64:
		f := c.Floats[i]
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
		return f
	}
	return c.Value(i)
}

func (s *Server) flush(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if err := s.store.Flush(r.Context()); err != nil {
		writeError(w, errInternal, err.Error())
		return
	}
	for _, f := range s.flushers {
		if err := f.Flush(r.Context()); err != nil {
			writeError(w, errInternal, err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"flushed": true, "seconds": time.Since(start).Seconds()})
}

func (s *Server) compact(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if err := s.store.Compact(r.Context()); err != nil {
		writeError(w, errInternal, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"compacted": true, "seconds": time.Since(start).Seconds()})
}

// Querier runs SQL (internal/sql.Engine).
type Querier interface {
	Query(ctx context.Context, sql string, params []any) (*sluicesql.Result, error)
}

// SetQuerier enables POST /v1/query.
func (s *Server) SetQuerier(q Querier) { s.querier = q }

// query is POST /v1/query: {"sql": "...", "max_rows": N, "next_token": "..."}.
// Pages come from running the query again and skipping the rows already
// sent; the token names the statement, so it cannot be used for another.
func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	if s.querier == nil {
		writeError(w, errNotImplemented, "the SQL engine is not enabled on this server")
		return
	}
	var req struct {
		SQL       string `json:"sql"`
		MaxRows   int    `json:"max_rows"`
		NextToken string `json:"next_token"`
		Params    []any  `json:"params"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.SQL) == "" {
		writeError(w, errBadRequest, `"sql" is empty`)
		return
	}
	if req.MaxRows < 0 {
		writeError(w, errBadRequest, "max_rows must be positive")
		return
	}
	if req.MaxRows == 0 {
		req.MaxRows = 10000
	}
	offset := 0
	if req.NextToken != "" {
		var err error
		if offset, err = decodeToken(req.NextToken, req.SQL); err != nil {
			writeError(w, errBadRequest, err.Error())
			return
		}
	}
	start := time.Now()
	res, err := s.querier.Query(r.Context(), req.SQL, req.Params)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	s.writeResult(w, r, res, req.SQL, offset, req.MaxRows, time.Since(start))
}

// writeResult answers with rows offset.. of res, at most maxRows of them:
// CSV with a header row when the client accepts text/csv, else the
// /v1/query JSON shape with a next_token for the rest (tied to sql).
func (s *Server) writeResult(w http.ResponseWriter, r *http.Request, res *sluicesql.Result, sql string, offset, maxRows int, elapsed time.Duration) {
	n := 0
	if res.Rows != nil {
		n = res.Rows.Len()
	}
	end := min(n, offset+maxRows)
	if strings.Contains(r.Header.Get("Accept"), "text/csv") {
		w.Header().Set("Content-Type", "text/csv")
		cw := csv.NewWriter(w)
		hdr := make([]string, len(res.Columns))
		for i, c := range res.Columns {
			hdr[i] = c.Name
		}
		cw.Write(hdr)
		rec := make([]string, len(res.Columns))
		for i := offset; i < end; i++ {
			for j, c := range res.Rows.Cols {
				rec[j] = csvValue(c, i)
			}
			cw.Write(rec)
		}
		cw.Flush()
		return
	}
	// The envelope is small; the rows are written by hand (appendRowsJSON).
	cols := make([]map[string]string, len(res.Columns))
	for i, c := range res.Columns {
		cols[i] = map[string]string{"name": c.Name, "type": c.Type.String()}
	}
	colsJSON, _ := json.Marshal(cols)
	var next any
	if end < n {
		next = encodeToken(end, sql)
	}
	nextJSON, _ := json.Marshal(next)
	statsJSON, _ := json.Marshal(map[string]any{"rows": n, "elapsed_ms": float64(elapsed.Microseconds()) / 1000})
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer func() {
		if cap(*bp) <= maxPooledBuf {
			s.bufs.Put(bp)
		}
	}()
	buf := (*bp)[:0]
	buf = append(buf, `{"columns":`...)
	buf = append(buf, colsJSON...)
	buf = append(buf, `,"rows":`...)
	if res.Rows != nil && end > offset {
		buf = appendRowsJSON(buf, res.Rows, offset, end)
	} else {
		buf = append(buf, "[]"...)
	}
	buf = append(buf, `,"next_token":`...)
	buf = append(buf, nextJSON...)
	buf = append(buf, `,"stats":`...)
	buf = append(buf, statsJSON...)
	buf = append(buf, "}\n"...)
	*bp = buf
	// With its length known, the answer goes out in one write instead of
	// chunked.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(http.StatusOK)
	w.Write(buf)
}

// maxPooledBuf bounds the answer buffers Server.bufs keeps: one huge
// answer should not stay pinned.
const maxPooledBuf = 8 << 20

func csvValue(c *columnar.Column, i int) string {
	v := FormatValue(c, i)
	if v == nil {
		return ""
	}
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

func tokenHash(sql string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(sql))
	return h.Sum64()
}

func encodeToken(offset int, sql string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d:%x", offset, tokenHash(sql))))
}

func decodeToken(tok, sql string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, fmt.Errorf("next_token is not valid")
	}
	var off int
	var h uint64
	if _, err := fmt.Sscanf(string(b), "%d:%x", &off, &h); err != nil || off < 0 {
		return 0, fmt.Errorf("next_token is not valid")
	}
	if h != tokenHash(sql) {
		return 0, fmt.Errorf("next_token belongs to another statement")
	}
	return off, nil
}

func writeQueryError(w http.ResponseWriter, err error) {
	var qe *sluicesql.Error
	if errors.As(err, &qe) {
		e := errInvalid
		switch {
		case qe.Code == "57014":
			e = apiError{"timeout", http.StatusRequestTimeout}
		case qe.Code == "53200":
			e = apiError{"resources_exceeded", http.StatusUnprocessableEntity}
		case qe.Code == "XX000":
			e = errInternal
		case qe.Code == "42P01" || qe.Code == "3D000":
			e = errNotFound
		}
		writeJSON(w, e.status, map[string]any{"error": map[string]any{"code": e.code, "message": qe.Error(), "sqlstate": qe.Code, "line": qe.Line, "column": qe.Col}})
		return
	}
	writeError(w, errInternal, err.Error())
}
