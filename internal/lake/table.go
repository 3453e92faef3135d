package lake

// File-backed tables: the lake's JSON Lines, CSV and Parquet files seen by
// the SQL engine as plan.Tables, the way Athena sees S3 objects through a
// Glue table. A Table is safe for concurrent scans; it keeps no state
// between scans except counters, so files that appear or vanish between two
// scans are simply seen or not.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// TableFormat is the file format of a lake table.
type TableFormat string

// Table formats.
const (
	TableJSON    TableFormat = "json"    // JSON Lines, optionally gzip-compressed
	TableCSV     TableFormat = "csv"     // delimited text, optionally gzip-compressed
	TableParquet TableFormat = "parquet" // Apache Parquet
)

// TableColumn is one column of a lake table: its name (lower case, as Hive
// stores it) and its Hive type as written in the DDL.
type TableColumn struct {
	Name     string `json:"name"`
	HiveType string `json:"type"`
}

// Type maps the column's Hive type onto sluice's types.
func (c TableColumn) Type() columnar.Type { return HiveType(c.HiveType) }

// HiveType maps an Athena/Hive type name onto a sluice type: string,
// varchar(n), char(n) → VARCHAR; tinyint, smallint, int, integer, bigint →
// BIGINT; float, real, double, decimal(p,s) → DOUBLE (decimals lose exactness
// past 15 digits); boolean → BOOLEAN; timestamp → TIMESTAMP; date → DATE.
// Complex types (array<…>, map<…>, struct<…>) and anything unknown are
// VARCHAR holding the value's JSON text.
func HiveType(t string) columnar.Type {
	base := strings.ToLower(strings.TrimSpace(t))
	if i := strings.IndexAny(base, "(<"); i >= 0 {
		base = strings.TrimSpace(base[:i])
	}
	switch base {
	case "tinyint", "smallint", "int", "integer", "bigint":
		return columnar.Int64
	case "float", "real", "double", "decimal", "numeric":
		return columnar.Float64
	case "boolean", "bool":
		return columnar.Bool
	case "timestamp":
		return columnar.Timestamp
	case "date":
		return columnar.Date
	}
	return columnar.String
}

// knownHiveType reports whether t is a type HiveType understands (complex
// types included), for validating DDL.
func knownHiveType(t string) bool {
	base := strings.ToLower(strings.TrimSpace(t))
	if i := strings.IndexAny(base, "(<"); i >= 0 {
		base = strings.TrimSpace(base[:i])
	}
	switch base {
	case "string", "varchar", "char", "tinyint", "smallint", "int", "integer", "bigint", "float", "real", "double",
		"decimal", "numeric", "boolean", "bool", "timestamp", "date", "array", "map", "struct", "binary":
		return true
	}
	return false
}

// TableDef is the definition of a lake table, as CREATE EXTERNAL TABLE
// gives it and the catalog stores it.
type TableDef struct {
	Database    string        `json:"database"`
	Name        string        `json:"name"`
	Columns     []TableColumn `json:"columns"`
	PartitionBy []TableColumn `json:"partition_by,omitempty"`
	Format      TableFormat   `json:"format"`
	SerDe       string        `json:"serde,omitempty"`
	// Location as written: an absolute path, a file:// URL, s3://bucket/prefix
	// (read from <lake root>/bucket/prefix) or a path relative to the lake root.
	Location        string            `json:"location"`
	SerDeProperties map[string]string `json:"serde_properties,omitempty"`
	Properties      map[string]string `json:"properties,omitempty"`
	// CSV: field separator, quote and escape characters ("" = none),
	// header lines to skip and the text that means NULL.
	Separator  string    `json:"separator,omitempty"`
	Quote      string    `json:"quote,omitempty"`
	Escape     string    `json:"escape,omitempty"`
	SkipHeader int       `json:"skip_header,omitempty"`
	NullFormat string    `json:"null_format,omitempty"`
	Comment    string    `json:"comment,omitempty"`
	Created    time.Time `json:"created"`
}

// AllColumns returns the data columns followed by the partition columns,
// the order in which Hive shows them.
func (d *TableDef) AllColumns() []TableColumn {
	return append(append([]TableColumn(nil), d.Columns...), d.PartitionBy...)
}

// Validate checks a definition for what scans rely on.
func (d *TableDef) Validate() error {
	if d.Database == "" || d.Name == "" {
		return errors.New("lake: table needs a database and a name")
	}
	if len(d.Columns) == 0 {
		return fmt.Errorf("lake: table %s.%s has no columns", d.Database, d.Name)
	}
	seen := map[string]bool{}
	for _, c := range d.AllColumns() {
		n := strings.ToLower(c.Name)
		if n == "" {
			return fmt.Errorf("lake: table %s.%s has a column without a name", d.Database, d.Name)
		}
		if seen[n] {
			return fmt.Errorf("lake: table %s.%s has column %q twice", d.Database, d.Name, c.Name)
		}
		seen[n] = true
		if !knownHiveType(c.HiveType) {
			return fmt.Errorf("lake: table %s.%s column %q has unknown type %q", d.Database, d.Name, c.Name, c.HiveType)
		}
	}
	switch d.Format {
	case TableJSON, TableParquet:
	case TableCSV:
		if len(d.Separator) > 1 || len(d.Quote) > 1 || len(d.Escape) > 1 {
			return fmt.Errorf("lake: table %s.%s: separator, quote and escape must be single bytes", d.Database, d.Name)
		}
	default:
		return fmt.Errorf("lake: table %s.%s has unknown format %q", d.Database, d.Name, d.Format)
	}
	if d.Location == "" {
		return fmt.Errorf("lake: table %s.%s needs a LOCATION", d.Database, d.Name)
	}
	return nil
}

// ResolveLocation turns a table LOCATION into a directory: file:// URLs and
// absolute paths are used as they are; s3://bucket/prefix reads
// <root>/bucket/prefix (the lake root stands in for object storage, the
// bucket being its first directory); anything else is relative to root.
func ResolveLocation(root, loc string) (string, error) {
	switch {
	case strings.HasPrefix(loc, "file://"):
		u, err := url.Parse(loc)
		if err != nil {
			return "", fmt.Errorf("lake: location %q: %w", loc, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("lake: location %q: file URLs name no host", loc)
		}
		return filepath.Clean(filepath.FromSlash(u.Path)), nil
	case strings.HasPrefix(loc, "s3://"), strings.HasPrefix(loc, "s3a://"), strings.HasPrefix(loc, "s3n://"):
		rest := loc[strings.Index(loc, "://")+3:]
		if root == "" {
			return "", fmt.Errorf("lake: location %q needs a lake root", loc)
		}
		return joinUnder(root, rest)
	case filepath.IsAbs(loc):
		return filepath.Clean(loc), nil
	}
	if root == "" {
		return "", fmt.Errorf("lake: relative location %q needs a lake root", loc)
	}
	return joinUnder(root, loc)
}

// joinUnder joins rel to root and refuses results outside root.
func joinUnder(root, rel string) (string, error) {
	p := filepath.Join(root, filepath.FromSlash(rel))
	r, err := filepath.Rel(root, p)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("lake: location %q leaves the lake root", rel)
	}
	return p, nil
}

// ScanStats counts what scans did, for tests and EXPLAIN-like reports.
type ScanStats struct {
	Scans            int64 // Scan calls
	FilesOpened      int64 // files read (after partition pruning)
	FilesSkipped     int64 // files left out by Parquet statistics
	PartitionsPruned int64 // partition directories not entered
	RowGroupsRead    int64 // Parquet row groups decoded
	RowGroupsSkipped int64 // Parquet row groups left out by statistics
	Bytes            int64 // bytes read from files (compressed size)
	Rows             int64 // rows produced
}

type statCounters struct {
	scans, files, filesSkipped, pruned, rgRead, rgSkipped, bytes, rows atomic.Int64
}

func (s *statCounters) snapshot() ScanStats {
	return ScanStats{Scans: s.scans.Load(), FilesOpened: s.files.Load(), FilesSkipped: s.filesSkipped.Load(),
		PartitionsPruned: s.pruned.Load(), RowGroupsRead: s.rgRead.Load(), RowGroupsSkipped: s.rgSkipped.Load(),
		Bytes: s.bytes.Load(), Rows: s.rows.Load()}
}

// Table is a lake table the SQL engine can scan. It implements plan.Table
// and plan.PredicateScanner.
type Table struct {
	def      TableDef
	dir      string
	cols     []plan.Column
	parts    []partCol // partition columns, in PARTITIONED BY order
	stats    *statCounters
	parallel int
	// slowParquet turns off the fast page reader (tests compare the two).
	slowParquet bool
	bufs        *scanBufs
}

// scanBufs are Parquet scans' buffers, kept from scan to scan (a catalog
// opens a Table per query and shares them): *rowGroup and *chunkReader.
type scanBufs struct {
	rowGroups, chunkReaders sync.Pool
}

type partCol struct {
	name string // lower case
	typ  columnar.Type
}

// TableOptions tune how a table is read.
type TableOptions struct {
	Root        string // lake root for relative and s3:// locations
	Parallelism int    // files decoded at once; 0 = GOMAXPROCS
}

// OpenTable returns a scannable table for def. The location need not exist
// yet: a missing directory reads as an empty table.
func OpenTable(def TableDef, opts TableOptions) (*Table, error) {
	return openTable(def, opts, &statCounters{}, &scanBufs{})
}

func openTable(def TableDef, opts TableOptions, st *statCounters, bufs *scanBufs) (*Table, error) {
	if err := def.Validate(); err != nil {
		return nil, err
	}
	dir, err := ResolveLocation(opts.Root, def.Location)
	if err != nil {
		return nil, err
	}
	t := &Table{def: def, dir: dir, stats: st, bufs: bufs, parallel: opts.Parallelism}
	if t.parallel <= 0 {
		t.parallel = runtime.GOMAXPROCS(0)
	}
	for _, c := range def.AllColumns() {
		t.cols = append(t.cols, plan.Column{Name: strings.ToLower(c.Name), Table: def.Name, Type: c.Type()})
	}
	for _, c := range def.PartitionBy {
		t.parts = append(t.parts, partCol{name: strings.ToLower(c.Name), typ: c.Type()})
	}
	return t, nil
}

// Def returns the table's definition.
func (t *Table) Def() TableDef { return t.def }

// Dir returns the directory the table reads.
func (t *Table) Dir() string { return t.dir }

// Stats returns the counters of this table's scans (shared with the
// catalog that opened it).
func (t *Table) Stats() ScanStats { return t.stats.snapshot() }

// Columns implements plan.Table.
func (t *Table) Columns() []plan.Column { return t.cols }

// UsesPredicates implements plan.PredicateScanner.
func (t *Table) UsesPredicates() bool { return true }

// ColumnRole reports column roles for the engine's DESCRIBE: "partition" or
// "column". (Not plan.ColumnKinder's roles: lake tables have no time or
// measure columns, so the tsdb pushdown must not see it.)
func (t *Table) ColumnRole(i int) string {
	if i >= len(t.def.Columns) {
		return "partition"
	}
	return "column"
}

// fileTask is one file to decode, with its partition values.
type fileTask struct {
	path  string
	size  int64
	parts []partValue // parallel to Table.parts
}

type partValue struct {
	null bool
	s    string
	v    any // typed: int64, float64, string, bool (nil when null or unparsable)
}

// Partition is one partition directory found under a table's location.
type Partition struct {
	Path   string            // relative to the table location, slash-separated
	Values map[string]string // partition column → value
	Files  int
}

// Partitions lists the partitions a table has on disk (MSCK REPAIR TABLE
// reports them; scans discover them by themselves).
func (t *Table) Partitions(ctx context.Context) ([]Partition, error) {
	files, err := t.listFiles(ctx, nil)
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	var out []Partition
	for _, f := range files {
		rel, _ := filepath.Rel(t.dir, filepath.Dir(f.path))
		var key []string
		vals := map[string]string{}
		for _, s := range strings.Split(filepath.ToSlash(rel), "/") {
			if k, v, ok := strings.Cut(s, "="); ok {
				if i := t.partIndex(k); i >= 0 {
					key = append(key, s)
					vals[t.parts[i].name] = unescapePartValue(v)
				}
			}
		}
		k := strings.Join(key, "/")
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Partition{Path: k, Values: vals})
		}
		out[i].Files++
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func (t *Table) partIndex(key string) int {
	for i, p := range t.parts {
		if strings.EqualFold(p.name, key) {
			return i
		}
	}
	return -1
}

// hiddenName reports files Hive and Athena skip: names starting with '.' or
// '_' (temporary files, _SUCCESS markers, _temporary directories).
func hiddenName(name string) bool {
	return name == "" || name[0] == '.' || name[0] == '_'
}

// listFiles walks the table location, entering only partition directories
// whose values may satisfy preds (Hive-style key=value directories, any
// depth, matched to partition columns case-insensitively). Directories
// that are not key=value are walked through (Firehose's yyyy/MM/dd/HH
// layout works for unpartitioned tables). Files of a partitioned table
// that lack a value for some partition column get NULL for it.
func (t *Table) listFiles(ctx context.Context, preds []plan.ColPred) ([]fileTask, error) {
	var out []fileTask
	var walk func(dir string, vals []partValue) error
	walk = func(dir string, vals []partValue) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("lake: listing %s: %w", dir, err)
		}
		for _, e := range ents {
			name := e.Name()
			if hiddenName(name) {
				continue
			}
			p := filepath.Join(dir, name)
			typ := e.Type()
			if typ&os.ModeSymlink != 0 {
				st, err := os.Stat(p)
				if err != nil {
					continue
				}
				typ = st.Mode().Type()
			}
			if typ.IsDir() {
				next := vals
				if k, v, ok := strings.Cut(name, "="); ok {
					if i := t.partIndex(k); i >= 0 {
						pv := parsePartValue(t.parts[i].typ, unescapePartValue(v))
						if !partMayMatch(t.parts[i], pv, preds) {
							t.stats.pruned.Add(1)
							continue
						}
						next = append([]partValue(nil), vals...)
						next[i] = pv
					}
				}
				if err := walk(p, next); err != nil {
					return err
				}
				continue
			}
			if !typ.IsRegular() {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // vanished meanwhile
			}
			out = append(out, fileTask{path: p, size: info.Size(), parts: vals})
		}
		return nil
	}
	init := make([]partValue, len(t.parts))
	for i := range init {
		init[i] = partValue{null: true}
	}
	if err := walk(t.dir, init); err != nil {
		return nil, err
	}
	// A partition column never given by a directory is NULL; predicates on
	// it other than IS NULL cannot match.
	kept := out[:0]
	for _, f := range out {
		ok := true
		for i, pc := range t.parts {
			if f.parts[i].null && !partMayMatch(pc, f.parts[i], preds) {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, f)
		}
	}
	return kept, nil
}

func unescapePartValue(v string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

// parsePartValue converts a directory's partition value to the column type;
// Hive's __HIVE_DEFAULT_PARTITION__ is NULL, as is a value that does not
// parse.
func parsePartValue(t columnar.Type, s string) partValue {
	if s == "__HIVE_DEFAULT_PARTITION__" {
		return partValue{null: true}
	}
	pv := partValue{s: s}
	switch t {
	case columnar.String:
		pv.v = s
	case columnar.Int64:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			pv.v = n
		}
	case columnar.Float64:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			pv.v = f
		}
	case columnar.Bool:
		if b, err := strconv.ParseBool(s); err == nil {
			pv.v = b
		}
	case columnar.Timestamp:
		if ns, ok := parseTimestampText([]byte(s)); ok {
			pv.v = ns
		}
	case columnar.Date:
		if d, ok := parseDateText([]byte(s)); ok {
			pv.v = d
		}
	}
	if pv.v == nil {
		pv.null = true
	}
	return pv
}

// partMayMatch reports whether a partition value may satisfy every
// predicate on its column.
func partMayMatch(pc partCol, pv partValue, preds []plan.ColPred) bool {
	for _, p := range preds {
		if p.Column != pc.name {
			continue
		}
		if pv.null {
			return false // comparisons with NULL are never true
		}
		if !predHolds(pv.v, p) {
			return false
		}
	}
	return true
}

// predHolds evaluates p for one value; incomparable types count as a match
// (predicates are only hints, the executor filters again).
func predHolds(v any, p plan.ColPred) bool {
	if p.Op == "in" {
		for _, x := range p.Values {
			if c, ok := compareAny(v, x); !ok || c == 0 {
				return true
			}
		}
		return false
	}
	if len(p.Values) != 1 {
		return true
	}
	c, ok := compareAny(v, p.Values[0])
	if !ok {
		return true
	}
	switch p.Op {
	case "=":
		return c == 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return true
}

// compareAny compares two scalar values of compatible kinds.
func compareAny(a, b any) (int, bool) {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp3(x, y), true
		case float64:
			return cmp3(float64(x), y), true
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return cmp3(x, float64(y)), true
		case float64:
			return cmp3(x, y), true
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), true
		}
	case bool:
		if y, ok := b.(bool); ok {
			if x == y {
				return 0, true
			}
			if !x {
				return -1, true
			}
			return 1, true
		}
	}
	return 0, false
}

func cmp3[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Scan implements plan.Table: it lists the files under the location
// (pruning partitions with req.Preds), decodes them on up to Parallelism
// goroutines and calls fn with their batches on the calling goroutine.
func (t *Table) Scan(ctx context.Context, req plan.ScanRequest, fn func(*columnar.Batch) error) error {
	return t.ScanCodesOnly(ctx, req, nil, fn)
}

// ScanCodesOnly is Scan for a reader that reads the VARCHAR columns named
// in codesOnly (among req.Columns) only through their dictionary codes
// where they have them (columnar.Column.Codes; a GROUP BY key): in a
// batch where such a column has codes, its Strs are left empty strings
// instead of each row's string, which is the dictionary's entry for the
// row's code. (Writing a million strings costs more than the rest of a
// GROUP BY over Parquet.) Where such a column has no codes (JSON Lines,
// CSV, Parquet chunks that are not dictionary-coded), its strings are
// there as usual.
func (t *Table) ScanCodesOnly(ctx context.Context, req plan.ScanRequest, codesOnly []string, fn func(*columnar.Batch) error) error {
	t.stats.scans.Add(1)
	want, err := t.wanted(req.Columns)
	if err != nil {
		return err
	}
	for i := range want {
		for _, n := range codesOnly {
			if want[i].typ == columnar.String && strings.EqualFold(want[i].name, n) {
				want[i].codesOnly = true
			}
		}
	}
	files, err := t.listFiles(ctx, req.Preds)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return nil
	}
	// Big files first, so the last worker does not start the largest one.
	sort.SliceStable(files, func(i, j int) bool { return files[i].size > files[j].size })
	workers := min(t.parallel, len(files))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tasks := make(chan fileTask)
	type item struct {
		b       *columnar.Batch
		release func()
	}
	out := make(chan item, 2*workers)
	// The workers number the strings of Parquet dictionaries in one
	// space, so readers map every worker's dictionaries alike.
	var num *dictNumbering
	if t.def.Format == TableParquet {
		num = newDictNumbering()
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec := t.newDecoder(want, req.Preds, num)
			emit := func(b *columnar.Batch, release func()) error {
				select {
				case out <- item{b, release}:
					return nil
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}
			for f := range tasks {
				if err := dec.file(ctx, f, emit); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	go func() {
		defer close(tasks)
		for _, f := range files {
			select {
			case tasks <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(out)
	}()
	var fnErr error
	for it := range out {
		if fnErr != nil {
			continue // drain so the workers can stop
		}
		t.stats.rows.Add(int64(it.b.Len()))
		if err := fn(it.b); err != nil {
			fnErr = err
			cancel(err)
		}
		if it.release != nil {
			it.release()
		}
	}
	if fnErr != nil {
		return fnErr
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// wantCol is one output column of a scan.
type wantCol struct {
	name string        // lower-case column name
	typ  columnar.Type // sluice type
	part int           // index into Table.parts, or -1 for a data column
	data int           // index among the table's data columns, or -1
	// codesOnly: the reader reads the column only through its codes
	// when it has them (see ScanCodesOnly).
	codesOnly bool
}

func (t *Table) wanted(names []string) ([]wantCol, error) {
	if names == nil {
		for _, c := range t.cols {
			names = append(names, c.Name)
		}
	}
	out := make([]wantCol, 0, len(names))
	for _, n := range names {
		found := false
		for i, c := range t.cols {
			if c.Name == n || strings.EqualFold(c.Name, n) {
				w := wantCol{name: c.Name, typ: c.Type, part: -1, data: -1}
				if i >= len(t.def.Columns) {
					w.part = i - len(t.def.Columns)
				} else {
					w.data = i
				}
				out = append(out, w)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("lake: table %s.%s has no column %q", t.def.Database, t.def.Name, n)
		}
	}
	return out, nil
}

// batchRows is the number of rows per batch handed to the executor.
const batchRows = 4096

// fileDecoder reads files of one format; each scan worker has its own.
type fileDecoder interface {
	file(ctx context.Context, f fileTask, emit emitFunc) error
}

// emitFunc hands a batch to the scan's caller. release, if not nil, is
// called once the caller is done with b and every batch emitted before it
// by the same decoder: their column buffers may then be reused.
type emitFunc func(b *columnar.Batch, release func()) error

func (t *Table) newDecoder(want []wantCol, preds []plan.ColPred, num *dictNumbering) fileDecoder {
	switch t.def.Format {
	case TableCSV:
		return newCSVDecoder(t, want)
	case TableParquet:
		return newParquetDecoder(t, want, preds, num)
	}
	return newJSONDecoder(t, want)
}

// openText opens a text file, decompressing .gz files (by name or by their
// magic bytes).
func (t *Table) openText(f fileTask) (io.ReadCloser, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil // removed since listing
		}
		return nil, fmt.Errorf("lake: opening %s: %w", f.path, err)
	}
	t.stats.files.Add(1)
	t.stats.bytes.Add(f.size)
	var magic [2]byte
	n, _ := io.ReadFull(fh, magic[:])
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		fh.Close()
		return nil, fmt.Errorf("lake: reading %s: %w", f.path, err)
	}
	if n == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := kgzip.NewReader(fh)
		if err != nil {
			fh.Close()
			return nil, fmt.Errorf("lake: reading %s: %w", f.path, err)
		}
		return &gzFile{Reader: zr, f: fh}, nil
	}
	return fh, nil
}

type gzFile struct {
	*kgzip.Reader
	f *os.File
}

func (g *gzFile) Close() error {
	g.Reader.Close()
	return g.f.Close()
}

// fillPartitions appends n rows of the file's partition values to the
// partition columns of b.
func fillPartitions(want []wantCol, cols []*columnar.Column, f fileTask, n int) {
	for i, w := range want {
		if w.part < 0 {
			continue
		}
		c := cols[i]
		pv := f.parts[w.part]
		if pv.null {
			for range n {
				c.AppendNull()
			}
			continue
		}
		// One type switch per column, not per row: every row of a file
		// has the same value.
		switch x := pv.v.(type) {
		case string:
			c.Strs = appendRepeat(c.Strs, x, n)
		case int64:
			c.Ints = appendRepeat(c.Ints, x, n)
		case float64:
			c.Floats = appendRepeat(c.Floats, x, n)
		case bool:
			c.Bools = appendRepeat(c.Bools, x, n)
		default:
			continue
		}
		if c.Nulls != nil {
			c.Nulls = appendRepeat(c.Nulls, false, n)
		}
	}
}

func appendRepeat[T any](s []T, v T, n int) []T {
	s = slices.Grow(s, n)
	for range n {
		s = append(s, v)
	}
	return s
}

// newBatch returns an empty batch with the wanted columns.
func newScanBatch(want []wantCol, n int) (*columnar.Batch, []*columnar.Column) {
	b := &columnar.Batch{Names: make([]string, len(want)), Cols: make([]*columnar.Column, len(want))}
	for i, w := range want {
		b.Names[i] = w.name
		b.Cols[i] = columnar.NewColumn(w.typ, n)
	}
	return b, b.Cols
}

// truncate cuts a column back to n rows (used to undo a half-decoded row).
func truncateColumn(c *columnar.Column, n int) {
	switch c.Type {
	case columnar.Bool:
		c.Bools = c.Bools[:n]
	case columnar.Int64, columnar.Timestamp, columnar.Date, columnar.Interval:
		c.Ints = c.Ints[:n]
	case columnar.Float64:
		c.Floats = c.Floats[:n]
	case columnar.String:
		c.Strs = c.Strs[:n]
	}
	if c.Nulls != nil {
		c.Nulls = c.Nulls[:n]
	}
}
