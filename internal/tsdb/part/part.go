// Package part writes and reads the immutable part files of sluice's cold
// tier: one Apache Parquet file per flushed (or compacted) time partition of
// one table, rows sorted by series (measure_name, then the dimensions in the
// order given) and then time. The layout, encodings and metadata keys are
// documented in internal/tsdb/docs/format/part.md; change both together.
//
// Write validates its input instead of trusting the caller (required columns,
// types, sort order, duplicate series+time) and publishes a file atomically:
// temp file in the same directory, fsync, rename, fsync of the directory. A
// part, once written, is never modified; Write refuses to replace one.
//
// A Reader is safe for concurrent use by several goroutines: every Scan opens
// its own page readers, and the only shared mutable state (decoded string
// dictionaries) is built once under a mutex and read-only afterwards.
// Close must not be called while a Scan is running.
//
// Invariants a part file keeps (checked by Write, relied on by Scan):
//   - time, version and measure_name are never NULL; a dimension is NULL where
//     a series lacks it, and NULL sorts before every string;
//   - no two rows have the same series and time;
//   - the time and value columns of a row group are cut into pages at the
//     same row numbers; measure_name, dimension and version columns of parts
//     with series statistics have coarser pages, cut at some of those rows.
//     Readers locate each column's pages through its own offset index, so
//     row ranges chosen with one column's page index read from any other;
//   - DOUBLE columns stored as DECIMAL(18, s) decode to exactly the float64
//     values that were written (see package enc).
//
// No function of this package panics on bad input: parquet-go is called
// under recover, and whatever it panics on is reported as ErrCorrupt.
package part

import (
	"errors"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// FormatVersion is the version of the part layout this package writes, and
// the newest it reads. It goes up (never down) with every change that an
// older reader would misread; see docs/format/part.md for the history.
const FormatVersion = 2

// Names of the columns every part has.
const (
	ColTime        = "time"
	ColVersion     = "version"
	ColMeasureName = "measure_name"
)

// Key/value metadata keys in the Parquet footer.
const (
	// KeyFormatVersion holds FormatVersion as a decimal string. A file
	// without it is not a sluice part.
	KeyFormatVersion = "sluice.format_version"
	// KeyMeta holds the JSON encoding of Meta.
	KeyMeta = "sluice.meta"
)

// Defaults for WriterOptions. See docs/format/part.md for the reasoning.
const (
	// DefaultRowGroupRows: a row group is the unit of row-group statistics,
	// of string dictionaries and of write buffering. 1 Mi rows is ~1 MB on
	// disk for telemetry (about 0.5–0.8 byte per point), big enough that
	// per-row-group metadata and dictionaries are noise, small enough that a
	// one-hour partition of a few thousand series splits into several
	// groups that coarse time/series pruning can skip.
	DefaultRowGroupRows = 1 << 20
	// DefaultPageRows: a page is the unit the page index skips and the
	// unit that is decompressed. 16384 rows hold four series-hours at
	// 1 Hz, so a one-series read decompresses up to four times the rows it
	// returns (it decodes only the rows it needs), while the fixed cost per
	// page stays small: ~50 bytes per column on disk (header, offset-index
	// entry, zstd frame and tables) and, in a full scan, the zstd tables'
	// decoding, which at 8192 rows was half of zstd's time on nibble-packed
	// value pages (see docs/format/part.md for the figures).
	DefaultPageRows = 16384
	// DefaultCompressionLevel is zstd's "default" level (klauspost's
	// SpeedDefault, about zstd level 3).
	DefaultCompressionLevel = 2
)

// Errors that callers test for with errors.Is.
var (
	// ErrCorrupt: the file is not a readable sluice part (truncated, bad
	// footer or metadata, undecodable page).
	ErrCorrupt = errors.New("part: corrupt part file")
	// ErrFormatVersion: the part was written by a newer sluice.
	ErrFormatVersion = errors.New("part: unsupported format version")
	// ErrUnsorted: Write input is not sorted by series and time.
	ErrUnsorted = errors.New("part: rows not sorted by (measure_name, dimensions, time)")
	// ErrDuplicate: Write input has the same series and time twice.
	ErrDuplicate = errors.New("part: duplicate series and time")
	// ErrInvalid: Write input or options are unusable (missing or mistyped
	// columns, empty batch, bad option values, unknown projection column).
	ErrInvalid = errors.New("part: invalid input")
)

// ColumnInfo describes one column of a part.
type ColumnInfo struct {
	Name string        `json:"name"`
	Type columnar.Type `json:"type"` // logical sluice type, what Scan returns
	Dim  bool          `json:"dim,omitempty"`
	// Decimal reports that a DOUBLE column is stored as Parquet
	// DECIMAL(18, Scale) on INT64 instead of DOUBLE; Scan converts back.
	Decimal bool `json:"decimal,omitempty"`
	Scale   int  `json:"scale,omitempty"`
}

// Meta is what a part knows about itself; Write returns it and stores it in
// the footer, Open reads it back.
type Meta struct {
	FormatVersion int          `json:"format_version"`
	MinTime       int64        `json:"min_time"` // inclusive, ns
	MaxTime       int64        `json:"max_time"` // inclusive, ns
	Rows          int64        `json:"rows"`
	Series        int          `json:"series"`
	Dims          []string     `json:"dims"`
	Columns       []ColumnInfo `json:"columns"` // in Write's batch order
	RowGroups     int          `json:"row_groups"`
	PageRows      int          `json:"page_rows"`
	// Bytes is the file size. It is filled in by Write and Open, not stored.
	Bytes int64 `json:"-"`
}

// Column returns the ColumnInfo for name and whether it exists.
func (m *Meta) Column(name string) (ColumnInfo, bool) {
	for _, c := range m.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return ColumnInfo{}, false
}

// WriterOptions tune Write. The zero value means defaults.
type WriterOptions struct {
	RowGroupRows     int // rows per row group; 0 = DefaultRowGroupRows
	PageRows         int // rows per data page; 0 = DefaultPageRows
	CompressionLevel int // 1 fastest .. 4 best (klauspost zstd levels); 0 = DefaultCompressionLevel
	// NoDecimal stores DOUBLE columns as DOUBLE (BYTE_STREAM_SPLIT) even
	// when they hold decimals; for comparisons and for consumers that must
	// see IEEE doubles in the file.
	NoDecimal bool
	// NoSeriesStats leaves out the series statistics (KeySeries), writing
	// a part as sluice did before they existed; for compatibility tests.
	NoSeriesStats bool
	// Minutes also writes per-minute pre-aggregates (KeyMinutes, with the
	// series statistics): an index that costs ~0.08 byte per point of
	// one-second decimal readings and lets time-bucketed aggregates skip
	// the rows.
	Minutes bool
}

func (o WriterOptions) withDefaults() (WriterOptions, error) {
	if o.RowGroupRows < 0 || o.PageRows < 0 || o.CompressionLevel < 0 || o.CompressionLevel > 4 {
		return o, errorf(ErrInvalid, "options %+v: want RowGroupRows, PageRows >= 0 and CompressionLevel in 0..4", o)
	}
	if o.RowGroupRows == 0 {
		o.RowGroupRows = DefaultRowGroupRows
	}
	if o.PageRows == 0 {
		o.PageRows = DefaultPageRows
	}
	if o.CompressionLevel == 0 {
		o.CompressionLevel = DefaultCompressionLevel
	}
	if o.PageRows > o.RowGroupRows {
		o.PageRows = o.RowGroupRows
	}
	return o, nil
}

// DimFilter restricts one dimension. A row matches when it has the dimension
// (not NULL), its value is one of Values (if any) and starts with Prefix (if
// not empty).
type DimFilter struct {
	Name   string
	Values []string
	Prefix string
}

// Filter selects rows for Scan. Use math.MinInt64 / math.MaxInt64 for open
// time bounds; the zero Filter selects only time 0.
type Filter struct {
	MinTime, MaxTime int64       // inclusive bounds, ns
	MeasureNames     []string    // nil = all
	Dims             []DimFilter // all must match
	Columns          []string    // projection; nil = all. time, version, measure_name are always returned
	// ProjectOnly returns exactly Columns: time, version and measure_name
	// only when listed. Filter columns that are not returned are decoded
	// only for pages whose statistics do not already prove every row
	// matches, so a scan of one value column decodes that column alone.
	ProjectOnly bool
}

// All returns a Filter that matches every row and projects every column.
func All() Filter {
	return Filter{MinTime: minInt64, MaxTime: maxInt64}
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)

// ScanStats counts what a Scan read and what it skipped.
type ScanStats struct {
	RowGroups        int   // row groups in the part
	RowGroupsSkipped int   // skipped on column-chunk statistics
	Pages            int   // pages (of the time column) in the part
	PagesSkipped     int   // not read, thanks to row-group stats or the page index
	RowsRead         int64 // rows decoded
	RowsMatched      int64 // rows handed to fn
}
