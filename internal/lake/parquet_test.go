package lake

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// TestParquetSortedDictionaries writes objects whose events name the same
// devices in different orders (and one with a device fewer) and checks
// that every STRING column's dictionary is sorted, that objects with the
// same set of strings get the same dictionary (a scan worker reading them
// one after the other hands out one *columnar.Dict), and that the rows
// read back are the events written, in order.
func TestParquetSortedDictionaries(t *testing.T) {
	dir := t.TempDir()
	const devices = 300
	state := newSchemaState() // one writer: the schema carries over
	var want [][]any
	for f := range 4 {
		order := rand.New(rand.NewPCG(uint64(f), 3)).Perm(devices)
		r := &run{}
		for k, d := range order {
			if f == 3 && d == 17 {
				continue // the last object lacks a device
			}
			line := fmt.Sprintf(`{"dev":"device-%03d","site":"s%d","v":%d}`, d, k%7, k)
			if code, msg := state.addEvent(r, []byte(line)); code != "" {
				t.Fatalf("event %s: %s %s", line, code, msg)
			}
			r.lines = append(append(r.lines, line...), '\n')
			r.events++
			want = append(want, []any{fmt.Sprintf("device-%03d", d), fmt.Sprintf("s%d", k%7), float64(k)})
		}
		var buf bytes.Buffer
		if err := writeParquet(&buf, r.lines, r.spans, r.events, state, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("o%d.parquet", f)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	def := TableDef{Database: "db", Name: "o", Format: TableParquet, Location: dir,
		Columns: []TableColumn{{"dev", "string"}, {"site", "string"}, {"v", "double"}}}
	tbl, err := OpenTable(def, TableOptions{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	var got [][]any
	var devDicts []*columnar.Dict
	err = tbl.Scan(context.Background(), plan.ScanRequest{}, func(b *columnar.Batch) error {
		for k, c := range b.Cols {
			_, d := c.Codes()
			if d == nil {
				return fmt.Errorf("column %s has no dictionary codes", b.Names[k])
			}
			strs := make([]string, d.Len())
			for i := range strs {
				strs[i] = d.Str(int32(i))
			}
			for i := 1; i < len(strs); i++ {
				if strs[i-1] >= strs[i] {
					return fmt.Errorf("column %s: dictionary entry %d %q, then %q", b.Names[k], i-1, strs[i-1], strs[i])
				}
			}
			if b.Names[k] == "dev" && (len(devDicts) == 0 || devDicts[len(devDicts)-1] != d) {
				devDicts = append(devDicts, d)
			}
			if k == 1 {
				break // v is a DOUBLE
			}
		}
		for i := range b.Len() {
			got = append(got, []any{b.Cols[0].Value(i), b.Cols[1].Value(i), b.Cols[2].Value(i)})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Files are read biggest first: the three full ones, then the last.
	if len(devDicts) != 2 || devDicts[1].Len() != devices-1 {
		t.Errorf("%d distinct device dictionaries, want 2 (the full objects share one)", len(devDicts))
	}
	key := func(r []any) string { return fmt.Sprint(r...) }
	var g, w []string
	for _, r := range got {
		g = append(g, key(r))
	}
	for _, r := range want {
		w = append(w, key(r))
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("read %d rows, wrote %d, or they differ", len(g), len(w))
	}
}
