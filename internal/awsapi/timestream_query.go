package awsapi

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/fnv"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/jsonenc"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/sql/fn"
	"github.com/sluice-dev/sluice/internal/sql/parse"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// Timestream Query (aws-compat.md §3).

const (
	maxQueryString = 256 << 10
	// pageBytes is how much a page without MaxRows holds, about
	// Timestream's 1 MB.
	pageBytes = 1 << 20
	// cursorTTL is how long a NextToken stays good (Timestream: 1 h).
	cursorTTL = time.Hour
	// retryGrace is how long a cursor outlives its last page: a client
	// whose connection broke while reading that page retries the same
	// token (the SDKs retry net.ErrClosed) and must get the page again.
	retryGrace = time.Minute
	// maxCursorCells bounds the rows×columns kept for pagination in all
	// cursors together; the oldest cursors go first.
	maxCursorCells = 32 << 20
)

// query is Query. The first call runs the statement and keeps the whole
// result as a cursor under its QueryId, so every page comes from the same
// snapshot; NextToken names the cursor, the offset and the statement.
func (s *Server) query(ctx context.Context, c *call) (any, error) {
	var in struct {
		QueryString string
		NextToken   string
		MaxRows     *int
		ClientToken string
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if err := required("QueryString", in.QueryString); err != nil {
		return nil, err
	}
	if len(in.QueryString) > maxQueryString {
		return nil, validation("QueryString is %d bytes long; the limit is %d", len(in.QueryString), maxQueryString)
	}
	maxRows := 0
	if in.MaxRows != nil {
		if *in.MaxRows < 1 || *in.MaxRows > 1000 {
			return nil, validation("MaxRows must be between 1 and 1000")
		}
		maxRows = *in.MaxRows
	}
	if err := s.authorizeQuery(c, in.QueryString); err != nil {
		return nil, err
	}
	var cur *cursor
	offset := 0
	if in.NextToken != "" {
		id, off, h, err := decodeQueryToken(in.NextToken)
		if err != nil {
			return nil, err
		}
		if h != stmtHash(in.QueryString, c) {
			return nil, validation("Invalid pagination token: it belongs to another query string or caller")
		}
		if cur = s.cursors.get(id); cur == nil {
			return nil, validation("Invalid pagination token: the query %s has expired or was cancelled; run it again", id)
		}
		if off > cur.rows() {
			return nil, validation("Invalid pagination token")
		}
		offset = off
	} else {
		res, err := s.querier.Query(ctx, in.QueryString, nil)
		if err != nil {
			return nil, queryError(err)
		}
		cur = newCursor(res, isShowMeasures(in.QueryString))
	}
	body, end := cur.page(offset, maxRows)
	if end < cur.rows() {
		if in.NextToken == "" {
			s.cursors.put(cur)
		}
		body = appendNextToken(body, encodeQueryToken(cur.id, end, stmtHash(in.QueryString, c)))
	} else if in.NextToken != "" {
		s.cursors.finish(cur.id)
	}
	return rawJSON(append(body, '}')), nil
}

// cancelQuery is CancelQuery: it drops the query's cursor (a running
// statement ends at its deadline; sluice answers queries in one call).
func (s *Server) cancelQuery(ctx context.Context, c *call) (any, error) {
	var in struct{ QueryId string }
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if err := required("QueryId", in.QueryId); err != nil {
		return nil, err
	}
	if err := c.authorize("timestream:CancelQuery", "*"); err != nil {
		return nil, err
	}
	s.cursors.drop(in.QueryId)
	return map[string]any{"CancellationMessage": "Query " + in.QueryId + " was cancelled."}, nil
}

func queryError(err error) error {
	var qe *sluicesql.Error
	if errors.As(err, &qe) {
		switch {
		case qe.Code == "57014" || qe.Code == "53200":
			return errf(http.StatusBadRequest, "QueryExecutionException", "%s", qe.Error())
		case qe.Code == "XX000":
			return errf(http.StatusInternalServerError, "InternalServerException", "%s", qe.Error())
		}
		return validation("%s", qe.Error())
	}
	return err
}

// authorizeQuery asks for timestream:Select on every table the statement
// names (SHOW and DESCRIBE too: they read the catalog of the table or
// database they name).
func (s *Server) authorizeQuery(c *call, sql string) error {
	if c.principal == nil {
		return nil
	}
	if s.opts.CheckSQL != nil {
		if err := s.opts.CheckSQL(c.principal, sql); err != nil {
			return authError(err)
		}
		return nil
	}
	stmts, err := parse.Parse(sql)
	if err != nil || len(stmts) != 1 {
		return nil // the engine answers the syntax error
	}
	for _, t := range tablesOf(stmts[0]) {
		db := s.opts.DefaultDatabase
		if len(t.Qualifier) > 0 {
			db = t.Qualifier[len(t.Qualifier)-1].Name
		}
		if err := c.authorize("timestream:Select", s.tableARN(db, t.Name.Name)); err != nil {
			return err
		}
	}
	if st, ok := stmts[0].(*parse.ShowTables); ok && !st.Database.IsZero() {
		return c.authorize("timestream:Select", s.databaseARN(st.Database.Name))
	}
	return nil
}

var tableNameType = reflect.TypeOf(parse.TableName{})
var cteType = reflect.TypeOf(parse.CTE{})

// tablesOf collects the table names a statement reads, leaving out names
// of its common table expressions. It walks the AST by reflection, so new
// node types need no code here.
func tablesOf(stmt parse.Statement) []*parse.TableName {
	var out []*parse.TableName
	ctes := map[string]bool{}
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			if v.Elem().Type() == tableNameType {
				out = append(out, v.Interface().(*parse.TableName))
				return
			}
			walk(v.Elem())
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			if v.Type() == tableNameType {
				t := v.Interface().(parse.TableName)
				out = append(out, &t)
				return
			}
			if v.Type() == cteType {
				if f := v.FieldByName("Name"); f.IsValid() {
					if id, ok := f.Interface().(parse.Ident); ok {
						ctes[strings.ToLower(id.Name)] = true
					}
				}
			}
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		}
	}
	walk(reflect.ValueOf(stmt))
	kept := out[:0]
	for _, t := range out {
		if len(t.Qualifier) == 0 && ctes[strings.ToLower(t.Name.Name)] {
			continue
		}
		kept = append(kept, t)
	}
	return kept
}

func isShowMeasures(sql string) bool {
	f := strings.Fields(strings.ToUpper(strings.TrimSpace(sql)))
	return len(f) >= 2 && f[0] == "SHOW" && f[1] == "MEASURES"
}

// cursor is a query result being paged.
type cursor struct {
	id          string
	res         *sluicesql.Result
	header      []byte // {"QueryId":...,"ColumnInfo":[...],"QueryStatus":{...},"Rows":
	showMeasure bool   // the dimensions column is ARRAY(ROW(dimension_name, data_type))
	expires     time.Time
	cells       int
}

func newCursor(res *sluicesql.Result, showMeasures bool) *cursor {
	cur := &cursor{id: newQueryID(), res: res}
	cols := res.Columns
	cur.showMeasure = showMeasures && len(cols) == 3 && cols[2].Name == "dimensions" && cols[2].Type == columnar.String
	b := make([]byte, 0, 256)
	b = append(b, `{"QueryId":"`...)
	b = append(b, cur.id...)
	b = append(b, `","ColumnInfo":[`...)
	for i, col := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		if cur.showMeasure && i == 2 {
			b = append(b, `{"Name":"dimensions","Type":{"ArrayColumnInfo":{"Type":{"RowColumnInfo":[{"Name":"dimension_name","Type":{"ScalarType":"VARCHAR"}},{"Name":"data_type","Type":{"ScalarType":"VARCHAR"}}]}}}}`...)
			continue
		}
		b = append(b, `{"Name":`...)
		b = appendStringJSON(b, col.Name)
		b = append(b, `,"Type":{"ScalarType":"`...)
		b = append(b, scalarType(col)...)
		b = append(b, `"}}`...)
	}
	n := cur.rows()
	scanned := int64(n) * int64(max(len(cols), 1)) * 8
	metered := int64(0)
	if res.Rows != nil && !showMeasures && len(cols) > 0 {
		metered = max(scanned, 10_000_000) // Timestream meters at least 10 MB a query
	}
	b = append(b, `],"QueryStatus":{"ProgressPercentage":100.0,"CumulativeBytesScanned":`...)
	b = strconv.AppendInt(b, scanned, 10)
	b = append(b, `,"CumulativeBytesMetered":`...)
	b = strconv.AppendInt(b, metered, 10)
	b = append(b, `},"Rows":`...)
	cur.header = b
	cur.cells = n * max(len(cols), 1)
	return cur
}

func (c *cursor) rows() int {
	if c.res.Rows == nil {
		return 0
	}
	return c.res.Rows.Len()
}

// page renders rows from offset on: up to maxRows (0 = until about 1 MB).
// The returned body lacks NextToken and the closing brace.
func (c *cursor) page(offset, maxRows int) ([]byte, int) {
	n := c.rows()
	b := make([]byte, 0, len(c.header)+4096)
	b = append(b, c.header...)
	b = append(b, '[')
	i := offset
	for ; i < n; i++ {
		if maxRows > 0 && i-offset >= maxRows || maxRows == 0 && len(b) >= pageBytes {
			break
		}
		if i > offset {
			b = append(b, ',')
		}
		b = append(b, `{"Data":[`...)
		for j, col := range c.res.Rows.Cols {
			if j > 0 {
				b = append(b, ',')
			}
			if c.showMeasure && j == 2 && !col.IsNull(i) {
				b = appendDimensionsDatum(b, col.Strs[i])
				continue
			}
			b = appendDatum(b, col, i)
		}
		b = append(b, "]}"...)
	}
	b = append(b, ']')
	return b, i
}

func appendNextToken(b []byte, tok string) []byte {
	b = append(b, `,"NextToken":`...)
	return appendStringJSON(b, tok)
}

// scalarType is Timestream's ScalarType of a result column.
func scalarType(col plan.Column) string {
	switch col.Type {
	case columnar.Bool:
		return "BOOLEAN"
	case columnar.Int64:
		return "BIGINT"
	case columnar.Float64:
		return "DOUBLE"
	case columnar.String:
		return "VARCHAR"
	case columnar.Timestamp:
		return "TIMESTAMP"
	case columnar.Date:
		return "DATE"
	case columnar.Interval:
		return "INTERVAL_DAY_TO_SECOND"
	}
	return "UNKNOWN"
}

// appendDatum appends one Datum in Timestream's value formats (§3.4).
func appendDatum(b []byte, c *columnar.Column, i int) []byte {
	if c.IsNull(i) || c.Type == columnar.Unknown {
		return append(b, `{"NullValue":true}`...)
	}
	if c.Type == columnar.String {
		b = append(b, `{"ScalarValue":`...)
		b = appendStringJSON(b, c.Strs[i])
		return append(b, '}')
	}
	b = append(b, `{"ScalarValue":"`...)
	switch c.Type {
	case columnar.Bool:
		b = strconv.AppendBool(b, c.Bools[i])
	case columnar.Int64:
		b = strconv.AppendInt(b, c.Ints[i], 10)
	case columnar.Float64:
		b = appendDouble(b, c.Floats[i])
	case columnar.Timestamp:
		b = fn.AppendTimestamp(b, c.Ints[i])
	case columnar.Date:
		b = append(b, fn.FormatDate(c.Ints[i])...)
	case columnar.Interval:
		b = append(b, fn.FormatInterval(c.Ints[i])...)
	}
	return append(b, `"}`...)
}

// appendDouble renders a DOUBLE the way Timestream does: shortest
// round-trip digits, integral values with ".0", NaN and Infinity by name.
func appendDouble(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	if !strings.ContainsAny(string(b[n:]), ".eE") {
		b = append(b, ".0"...)
	}
	return b
}

// appendDimensionsDatum turns SHOW MEASURES' dimensions text (a JSON array
// of {"dimension_name","data_type"}) into Timestream's ArrayValue of
// RowValues.
func appendDimensionsDatum(b []byte, s string) []byte {
	var dims []struct {
		Name string `json:"dimension_name"`
		Type string `json:"data_type"`
	}
	if err := json.Unmarshal([]byte(s), &dims); err != nil {
		return append(b, `{"NullValue":true}`...)
	}
	b = append(b, `{"ArrayValue":[`...)
	for i, d := range dims {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"RowValue":{"Data":[{"ScalarValue":`...)
		b = appendStringJSON(b, d.Name)
		b = append(b, `},{"ScalarValue":`...)
		b = appendStringJSON(b, d.Type)
		b = append(b, `}]}}`...)
	}
	return append(b, "]}"...)
}

// newQueryID returns a random id of Timestream's form ([A-Z0-9]+).
func newQueryID() string {
	var r [16]byte
	rand.Read(r[:])
	return "AEB" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(r[:])
}

// stmtHash binds a token to its statement and caller.
func stmtHash(sql string, c *call) uint64 {
	h := fnv.New64a()
	h.Write([]byte(sql))
	if c.principal != nil {
		h.Write([]byte{0})
		h.Write([]byte(c.principal.AccessKeyID()))
	}
	return h.Sum64()
}

// A query token is base64url(version=1, hash(8), offset(uvarint), id).
func encodeQueryToken(id string, offset int, hash uint64) string {
	b := make([]byte, 0, 16+len(id))
	b = append(b, 1)
	b = binary.BigEndian.AppendUint64(b, hash)
	b = binary.AppendUvarint(b, uint64(offset))
	b = append(b, id...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeQueryToken(tok string) (id string, offset int, hash uint64, err error) {
	bad := validation("Invalid pagination token")
	if len(tok) > 2048 {
		return "", 0, 0, bad
	}
	b, derr := base64.RawURLEncoding.DecodeString(tok)
	if derr != nil || len(b) < 10 || b[0] != 1 {
		return "", 0, 0, bad
	}
	hash = binary.BigEndian.Uint64(b[1:9])
	off, k := binary.Uvarint(b[9:])
	if k <= 0 || off > math.MaxInt32 {
		return "", 0, 0, bad
	}
	id = string(b[9+k:])
	if id == "" || len(id) > 64 {
		return "", 0, 0, bad
	}
	return id, int(off), hash, nil
}

// cursorCache keeps cursors for NextToken, bounded in cells and age.
type cursorCache struct {
	now   func() time.Time
	mu    sync.Mutex
	m     map[string]*cursor // guarded by mu
	order []*cursor          // guarded by mu; oldest first
	cells int                // guarded by mu
}

func newCursorCache(now func() time.Time) *cursorCache {
	return &cursorCache{now: now, m: map[string]*cursor{}}
}

func (cc *cursorCache) put(c *cursor) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	c.expires = cc.now().Add(cursorTTL)
	cc.m[c.id] = c
	cc.order = append(cc.order, c)
	cc.cells += c.cells
	cc.evictLocked()
}

func (cc *cursorCache) evictLocked() {
	now := cc.now()
	keep := cc.order[:0]
	for i, c := range cc.order {
		if cc.m[c.id] != c {
			continue // dropped already
		}
		if now.After(c.expires) || cc.cells > maxCursorCells && i < len(cc.order)-1 {
			delete(cc.m, c.id)
			cc.cells -= c.cells
			continue
		}
		keep = append(keep, c)
	}
	clear(cc.order[len(keep):])
	cc.order = keep
}

func (cc *cursorCache) get(id string) *cursor {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	c := cc.m[id]
	if c == nil || cc.now().After(c.expires) {
		return nil
	}
	return c
}

// finish keeps a fully read cursor only for retryGrace.
func (cc *cursorCache) finish(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if c := cc.m[id]; c != nil {
		if t := cc.now().Add(retryGrace); t.Before(c.expires) {
			c.expires = t
		}
	}
}

func (cc *cursorCache) drop(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if c := cc.m[id]; c != nil {
		delete(cc.m, id)
		cc.cells -= c.cells
		cc.evictLocked()
	}
}

// appendStringJSON appends s as a JSON string (see jsonenc.AppendString).
func appendStringJSON(dst []byte, s string) []byte { return jsonenc.AppendString(dst, s, true) }
