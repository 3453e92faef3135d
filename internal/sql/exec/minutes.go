package exec

import (
	"context"
	"fmt"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// newScanOp is the operator for a Scan node.
func newScanOp(n *plan.Scan) op {
	if n.Minutes {
		return &minutesScanOp{n: n}
	}
	return &scanOp{n: n}
}

// minutesScanOp reads a table's per-(series, minute) partial aggregates
// (plan.UseMinuteAggregates): the series columns by name, the five
// aggregate columns by position (a dimension could share a name).
type minutesScanOp struct{ n *plan.Scan }

func (o *minutesScanOp) run(ctx context.Context, emit func(*chunk) error) error {
	n := o.n
	ma, ok := n.Table.(plan.MinuteAggregator)
	if !ok || len(n.Columns) < 5 {
		return fmt.Errorf("scan %s: table has no minute aggregates", n.Name)
	}
	ids := n.Columns[:len(n.Columns)-5]
	req := n.Req
	req.Columns = make([]string, len(ids))
	for i, c := range ids {
		req.Columns[i] = c.Name
	}
	err := ma.MinuteAggregates(ctx, req, n.MinuteOf, func(b *columnar.Batch) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows := b.Len()
		if rows == 0 {
			return nil
		}
		if len(b.Cols) < 5 {
			return fmt.Errorf("scan %s: %d columns of minute aggregates", n.Name, len(b.Cols))
		}
		ch := &chunk{cols: make([]*columnar.Column, len(n.Columns)), n: rows}
		for i, c := range n.Columns {
			var col *columnar.Column
			if k := len(n.Columns) - i; k <= 5 {
				col = b.Cols[len(b.Cols)-k]
			} else if col = b.Col(c.Name); col == nil {
				col = fn.NullColumn(c.Type, rows)
			}
			if col.Type != c.Type || colLen(col) != rows {
				return fmt.Errorf("scan %s: column %q is %s × %d, plan expects %s × %d", n.Name, c.Name, col.Type, colLen(col), c.Type, rows)
			}
			ch.cols[i] = col
		}
		return emit(ch)
	})
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
