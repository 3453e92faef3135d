package part

// A part keeps the column index (per-page min/max) only of the columns a
// scan prunes pages with: time, and measure_name and the dimensions when
// the part has no series statistics (with them, a series' rows come from
// the statistics, not from page bounds). Value and version columns are
// never filtered on, and dimension bounds are long strings (~80 bytes a
// page for a device id pair), so theirs cost ~0.035 byte per point for
// nothing. Every column keeps its offset index, which locates pages.
//
// parquet-go's reader finds the column indexes from the first chunk's
// offset and reads them as one contiguous run, so the first chunk of the
// first row group keeps its column index whatever its column, and the
// writer lays the kept indexes out contiguously in chunk order, followed
// by every chunk's offset index, then the footer.

// keepsColumnIndex reports whether the chunk of spec s in row group g has
// a column index (see pwrite.go).
func (p *plan) keepsColumnIndex(g int, s *chunkSpec) bool {
	return s.info.Name == ColTime || (p.series == nil && (s.info.Dim || s.info.Name == ColMeasureName)) || (g == 0 && s.leaf == 0)
}
