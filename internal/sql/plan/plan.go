// Package plan holds sluice's logical query plans: bound, typed
// expressions and the relational operators the executor runs, and the
// catalog interface through which the SQL engine sees tables (the tsdb, the
// lake and reference files each implement it).
//
// A plan is a tree of Nodes. Every Node has a fixed output schema; every
// Expr is bound to column positions of its input's schema and has a type.
// Plans are immutable once built and may be executed concurrently.
package plan

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// Column is one column of a schema.
type Column struct {
	Name  string
	Table string // qualifier it can be referred to by ("" if none)
	Type  columnar.Type
}

// Catalog resolves table names. Names are matched as the dialect says
// (unquoted case-insensitively), which the implementation decides.
type Catalog interface {
	Table(ctx context.Context, database, name string) (Table, error)
}

// Table is a scannable table.
type Table interface {
	Columns() []Column
	// Scan calls fn with batches holding the requested columns (all when
	// req.Columns is nil), in any order. The request's predicates are hints:
	// a table may return rows that do not match them (the executor filters
	// again) but must not leave out rows that do. fn must not keep a batch.
	Scan(ctx context.Context, req ScanRequest, fn func(*columnar.Batch) error) error
}

// LatestScanner is implemented by tables with a fast path for the newest
// row of each series (max_by(..., time) and friends).
type LatestScanner interface {
	Latest(ctx context.Context, req ScanRequest, fn func(*columnar.Batch) error) error
}

// SeriesCounter is implemented by tables that can count each series' rows
// without reading them (see UseSeriesCounts). SeriesCounts calls fn with
// batches of one row per series that has rows matching req: the requested
// measure_name and dimension columns, then CountColumn (BIGINT),
// MinTimeColumn and MaxTimeColumn (TIMESTAMP) as the last three columns.
type SeriesCounter interface {
	SeriesCounts(ctx context.Context, req ScanRequest, fn func(*columnar.Batch) error) error
}

// Names of the columns a SeriesCounter adds, and of the aggregate that
// adds up counts (count(*) over per-series counts: 0, not NULL, for no rows).
const (
	CountColumn   = "$count"
	MinTimeColumn = "$min_time"
	MaxTimeColumn = "$max_time"
	CountSumAgg   = "$count_sum"
)

// ScanRequest carries the parts of a query a table may use to read less.
type ScanRequest struct {
	MinTime, MaxTime int64 // inclusive bounds on the time column; math.MinInt64/MaxInt64 when open
	MeasureNames     []string
	Dims             []DimFilter
	Columns          []string
	// Preds are conjuncts of the WHERE clause that compare one column with
	// constants, for tables that skip data by column values (lake tables
	// prune partitions and Parquet row groups with them). PushFilter fills
	// them only for tables that implement PredicateScanner, so the tsdb's
	// requests are unchanged.
	Preds []ColPred
}

// ColPred compares column Column with constants: Op is "=", "<", "<=",
// ">", ">=" (Values has one element) or "in". Values hold int64 (BIGINT,
// TIMESTAMP ns, DATE days), float64, string or bool, as Type says.
type ColPred struct {
	Column string
	Op     string
	Values []any
	Type   columnar.Type
}

// PredicateScanner is implemented by tables that read ScanRequest.Preds.
type PredicateScanner interface {
	UsesPredicates() bool
}

// DimFilter restricts a VARCHAR column to values (equality / IN) and/or a prefix.
type DimFilter struct {
	Name   string
	Values []string
	Prefix string
}

// Node is a relational operator.
type Node interface {
	Schema() []Column
	Children() []Node
	String() string // one line, for EXPLAIN
}

// Expr is a bound, typed expression evaluated over the rows of a Node's input.
type Expr interface {
	Type() columnar.Type
	String() string
}

// ColRef reads column Index of the input.
type ColRef struct {
	Index int
	Name  string
	T     columnar.Type
}

// Const is a constant. Val is nil (NULL), bool, int64 (BIGINT, TIMESTAMP ns,
// DATE days, INTERVAL ns), float64 or string, as T says.
type Const struct {
	Val any
	T   columnar.Type
}

// Call applies a scalar function or operator. Operators use their SQL
// spelling as Name ("+", "=", "and", "or", "not", "is null", "like", ...);
// functions use their lower-case name.
type Call struct {
	Name string
	Args []Expr
	T    columnar.Type
}

// Cast converts X to T; Try makes failures NULL instead of errors.
type Cast struct {
	X   Expr
	T   columnar.Type
	Try bool
}

// Case is a searched CASE (simple CASE is rewritten to it).
type Case struct {
	Whens []When
	Else  Expr // nil = NULL
	T     columnar.Type
}

// When is one branch of a Case.
type When struct{ Cond, Then Expr }

// InList tests X against a list of expressions.
type InList struct {
	X    Expr
	List []Expr
	Not  bool
}

// Subquery is an uncorrelated subquery evaluated once: Kind "scalar"
// (one value), "in" (X IN (subquery)) or "exists".
type Subquery struct {
	Kind string
	X    Expr // for "in"
	Plan Node
	Not  bool
	T    columnar.Type
}

func (e *ColRef) Type() columnar.Type   { return e.T }
func (e *Const) Type() columnar.Type    { return e.T }
func (e *Call) Type() columnar.Type     { return e.T }
func (e *Cast) Type() columnar.Type     { return e.T }
func (e *Case) Type() columnar.Type     { return e.T }
func (e *InList) Type() columnar.Type   { return columnar.Bool }
func (e *Subquery) Type() columnar.Type { return e.T }

func (e *ColRef) String() string { return fmt.Sprintf("#%d:%s", e.Index, e.Name) }
func (e *Const) String() string {
	if e.Val == nil {
		return "NULL"
	}
	if s, ok := e.Val.(string); ok {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return fmt.Sprint(e.Val)
}
func (e *Call) String() string { return e.Name + "(" + exprList(e.Args) + ")" }
func (e *Cast) String() string {
	if e.Try {
		return "try_cast(" + e.X.String() + " AS " + e.T.String() + ")"
	}
	return "cast(" + e.X.String() + " AS " + e.T.String() + ")"
}
func (e *Case) String() string {
	var b strings.Builder
	b.WriteString("CASE")
	for _, w := range e.Whens {
		b.WriteString(" WHEN " + w.Cond.String() + " THEN " + w.Then.String())
	}
	if e.Else != nil {
		b.WriteString(" ELSE " + e.Else.String())
	}
	return b.String() + " END"
}
func (e *InList) String() string {
	not := ""
	if e.Not {
		not = "NOT "
	}
	return e.X.String() + " " + not + "IN (" + exprList(e.List) + ")"
}
func (e *Subquery) String() string { return e.Kind + "(subquery)" }

func exprList(es []Expr) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.String()
	}
	return strings.Join(s, ", ")
}

// Scan reads a table.
type Scan struct {
	Table  Table
	Name   string // for EXPLAIN
	Req    ScanRequest
	Latest bool // use the table's LatestScanner
	// Counts reads one row per series from the table's SeriesCounter; the
	// last three Columns are then CountColumn, MinTimeColumn, MaxTimeColumn.
	Counts bool
	// Minutes reads per-(series, minute) partial aggregates of the DOUBLE
	// column MinuteOf from the table's MinuteAggregator; the last five
	// Columns are then MinuteColumn, CountColumn, SumColumn, MinColumn and
	// MaxColumn (see UseMinuteAggregates).
	Minutes  bool
	MinuteOf string
	Columns  []Column
}

// Filter keeps rows where Cond is true.
type Filter struct {
	Input Node
	Cond  Expr
}

// Project computes Exprs over each input row.
type Project struct {
	Input Node
	Exprs []Expr
	Names []string
}

// Aggregate groups by GroupBy and computes Aggs; output is the group
// columns followed by the aggregates. With no GroupBy it yields one row.
type Aggregate struct {
	Input   Node
	GroupBy []Expr
	Names   []string // output names, groups then aggregates
	Aggs    []AggCall
}

// AggCall is one aggregate: count, sum, avg, min, max, stddev, variance,
// approx_percentile, approx_distinct, min_by, max_by, arbitrary, ...
type AggCall struct {
	Name     string
	Args     []Expr
	Distinct bool
	Star     bool // count(*)
	Filter   Expr // nil = none
	T        columnar.Type
}

// Window computes window functions; output is the input columns followed
// by one column per function.
type Window struct {
	Input Node
	Funcs []WindowCall
	Names []string
}

// WindowCall is one window function call.
type WindowCall struct {
	Name        string // row_number, rank, dense_rank, lag, lead, first_value, last_value, or an aggregate
	Args        []Expr
	PartitionBy []Expr
	OrderBy     []SortKey
	Frame       *Frame // nil = default frame
	T           columnar.Type
}

// Frame is ROWS|RANGE BETWEEN Start AND End.
type Frame struct {
	Rows       bool
	Start, End Bound
}

// Bound is one end of a frame: UNBOUNDED PRECEDING (Unbounded, Preceding),
// n PRECEDING, CURRENT ROW (Current), n FOLLOWING, UNBOUNDED FOLLOWING.
type Bound struct {
	Unbounded, Current, Preceding bool
	Offset                        int64
}

// SortKey orders by Expr.
type SortKey struct {
	Expr       Expr
	Desc       bool
	NullsFirst bool
}

// Sort orders its input.
type Sort struct {
	Input Node
	Keys  []SortKey
}

// Limit passes Count rows after skipping Offset (Count < 0: no limit).
type Limit struct {
	Input         Node
	Count, Offset int64
}

// TopN is Sort followed by Limit, kept in a bounded heap.
type TopN struct {
	Input         Node
	Keys          []SortKey
	Count, Offset int64
}

// JoinKind is the kind of a Join.
type JoinKind int

const (
	InnerJoin JoinKind = iota
	LeftJoin
	RightJoin
	FullJoin
	CrossJoin
)

// Join joins Left and Right. LeftKeys/RightKeys are equi-join keys pulled
// out of the condition (hash join); Cond is what remains (evaluated over
// the concatenated row, left columns first), nil if nothing.
type Join struct {
	Left, Right         Node
	Kind                JoinKind
	LeftKeys, RightKeys []Expr
	Cond                Expr
}

// Union concatenates inputs with equal schemas (UNION ALL); UNION without
// ALL is Union under a Distinct.
type Union struct{ Inputs []Node }

// Distinct removes duplicate rows.
type Distinct struct{ Input Node }

// Values is a fixed set of rows (SELECT without FROM yields one empty row).
type Values struct {
	Cols []Column
	Rows [][]Expr
}

// TableFunc is a table-valued function in FROM (anomalies, forecast, ...).
// Input is the relation it reads (nil if its arguments name a table).
type TableFunc struct {
	Name  string
	Args  []Expr
	Input Node
	Cols  []Column
}

func (n *Scan) Schema() []Column      { return n.Columns }
func (n *Filter) Schema() []Column    { return n.Input.Schema() }
func (n *Limit) Schema() []Column     { return n.Input.Schema() }
func (n *TopN) Schema() []Column      { return n.Input.Schema() }
func (n *Sort) Schema() []Column      { return n.Input.Schema() }
func (n *Distinct) Schema() []Column  { return n.Input.Schema() }
func (n *Union) Schema() []Column     { return n.Inputs[0].Schema() }
func (n *Values) Schema() []Column    { return n.Cols }
func (n *TableFunc) Schema() []Column { return n.Cols }
func (n *Project) Schema() []Column {
	cols := make([]Column, len(n.Exprs))
	for i, e := range n.Exprs {
		cols[i] = Column{Name: n.Names[i], Type: e.Type()}
	}
	return cols
}
func (n *Aggregate) Schema() []Column {
	cols := make([]Column, 0, len(n.GroupBy)+len(n.Aggs))
	for i, e := range n.GroupBy {
		cols = append(cols, Column{Name: n.Names[i], Type: e.Type()})
	}
	for i, a := range n.Aggs {
		cols = append(cols, Column{Name: n.Names[len(n.GroupBy)+i], Type: a.T})
	}
	return cols
}
func (n *Window) Schema() []Column {
	cols := append([]Column(nil), n.Input.Schema()...)
	for i, f := range n.Funcs {
		cols = append(cols, Column{Name: n.Names[i], Type: f.T})
	}
	return cols
}
func (n *Join) Schema() []Column {
	return append(append([]Column(nil), n.Left.Schema()...), n.Right.Schema()...)
}

func (n *Scan) Children() []Node      { return nil }
func (n *Filter) Children() []Node    { return []Node{n.Input} }
func (n *Project) Children() []Node   { return []Node{n.Input} }
func (n *Aggregate) Children() []Node { return []Node{n.Input} }
func (n *Window) Children() []Node    { return []Node{n.Input} }
func (n *Sort) Children() []Node      { return []Node{n.Input} }
func (n *Limit) Children() []Node     { return []Node{n.Input} }
func (n *TopN) Children() []Node      { return []Node{n.Input} }
func (n *Join) Children() []Node      { return []Node{n.Left, n.Right} }
func (n *Union) Children() []Node     { return n.Inputs }
func (n *Distinct) Children() []Node  { return []Node{n.Input} }
func (n *Values) Children() []Node    { return nil }
func (n *TableFunc) Children() []Node {
	if n.Input == nil {
		return nil
	}
	return []Node{n.Input}
}

func (n *Scan) String() string {
	s := fmt.Sprintf("Scan %s", n.Name)
	if n.Latest {
		s += " latest"
	}
	if n.Counts {
		s += " series-counts"
	}
	if n.Minutes {
		s += fmt.Sprintf(" minute-aggregates(%s)", n.MinuteOf)
	}
	if n.Req.MinTime != minInt || n.Req.MaxTime != maxInt {
		s += fmt.Sprintf(" time=[%d,%d]", n.Req.MinTime, n.Req.MaxTime)
	}
	if n.Req.MeasureNames != nil {
		s += fmt.Sprintf(" measures=%v", n.Req.MeasureNames)
	}
	for _, d := range n.Req.Dims {
		s += fmt.Sprintf(" %s in %v prefix %q", d.Name, d.Values, d.Prefix)
	}
	for _, p := range n.Req.Preds {
		s += fmt.Sprintf(" %s %s %v", p.Column, p.Op, p.Values)
	}
	if n.Req.Columns != nil {
		s += fmt.Sprintf(" columns=%v", n.Req.Columns)
	}
	return s
}
func (n *Filter) String() string  { return "Filter " + n.Cond.String() }
func (n *Project) String() string { return "Project " + exprList(n.Exprs) }
func (n *Aggregate) String() string {
	names := make([]string, len(n.Aggs))
	for i, a := range n.Aggs {
		names[i] = a.Name + "(" + exprList(a.Args) + ")"
	}
	return "Aggregate by [" + exprList(n.GroupBy) + "] " + strings.Join(names, ", ")
}
func (n *Window) String() string { return fmt.Sprintf("Window %d functions", len(n.Funcs)) }
func (n *Sort) String() string   { return fmt.Sprintf("Sort %d keys", len(n.Keys)) }
func (n *Limit) String() string  { return fmt.Sprintf("Limit %d offset %d", n.Count, n.Offset) }
func (n *TopN) String() string {
	return fmt.Sprintf("TopN %d offset %d, %d keys", n.Count, n.Offset, len(n.Keys))
}
func (n *Join) String() string     { return fmt.Sprintf("Join kind=%d keys=%d", n.Kind, len(n.LeftKeys)) }
func (n *Union) String() string    { return fmt.Sprintf("Union %d inputs", len(n.Inputs)) }
func (n *Distinct) String() string { return "Distinct" }
func (n *Values) String() string   { return fmt.Sprintf("Values %d rows", len(n.Rows)) }
func (n *TableFunc) String() string {
	return "TableFunc " + n.Name + "(" + exprList(n.Args) + ")"
}

const (
	minInt = -1 << 63
	maxInt = 1<<63 - 1
)

// Explain renders a plan tree, one node per line, children indented.
func Explain(n Node) string {
	var b strings.Builder
	var walk func(Node, int)
	walk = func(n Node, depth int) {
		b.WriteString(strings.Repeat("  ", depth) + n.String() + "\n")
		for _, c := range n.Children() {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return b.String()
}
