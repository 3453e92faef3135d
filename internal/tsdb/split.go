package tsdb

import (
	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/enc"
)

// splitColumn is the column whose decimal scale splits parts: the value
// column of single-measure DOUBLE records.
const splitColumn = "measure_value::double"

// splitByScale splits the rows of a partition batch into batches whose
// measures need the same decimal scale in measure_value::double.
//
// Why: a part stores a DOUBLE column as scaled integers with one scale per
// file (Parquet's DECIMAL scale is part of the schema). In a single-measure
// table all measures share that column, so a one-decimal temperature stored
// next to a two-decimal humidity gets scale 2, and its deltas carry a
// useless factor of ten. Writing one part per scale keeps each measure at
// the scale it needs. Rows are sorted by measure name first, so each
// measure is one contiguous run and the split keeps the sort order.
func splitByScale(b *columnar.Batch) []*columnar.Batch {
	v := b.Col(splitColumn)
	mn := b.Col("measure_name")
	if v == nil || mn == nil || b.Len() == 0 {
		return []*columnar.Batch{b}
	}
	type run struct{ i, j, scale int }
	var runs []run
	n := b.Len()
	for i := 0; i < n; {
		j := i + 1
		for j < n && mn.Strs[j] == mn.Strs[i] {
			j++
		}
		var nulls []bool
		if v.Nulls != nil {
			nulls = v.Nulls[i:j]
		}
		scale, ok := enc.DecimalScale(v.Floats[i:j], nulls)
		if !ok {
			scale = -1
		}
		runs = append(runs, run{i, j, scale})
		i = j
	}
	var order []int
	byScale := map[int][]run{}
	for _, r := range runs {
		if _, ok := byScale[r.scale]; !ok {
			order = append(order, r.scale)
		}
		byScale[r.scale] = append(byScale[r.scale], r)
	}
	if len(order) <= 1 {
		return []*columnar.Batch{b}
	}
	out := make([]*columnar.Batch, 0, len(order))
	for _, s := range order {
		nb := &columnar.Batch{}
		rows := 0
		for _, r := range byScale[s] {
			rows += r.j - r.i
		}
		for ci, name := range b.Names {
			src := b.Cols[ci]
			dst := nb.Add(name, columnar.NewColumn(src.Type, rows))
			for _, r := range byScale[s] {
				appendRange(dst, src, r.i, r.j)
			}
		}
		out = append(out, nb)
	}
	return out
}
