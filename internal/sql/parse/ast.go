package parse

import (
	"strings"
	"time"
)

// Pos is the byte offset of a node's first token in the SQL text. Every node
// embeds it, so any node answers Start(); Position converts it to
// line:column for messages from the planner and executor. (The method is
// not called Offset because Select and SetOp have an OFFSET clause field.)
type Pos int

// Start returns the byte offset of the node in the SQL text.
func (p Pos) Start() int { return int(p) }

// Node is any syntax tree node.
type Node interface {
	Start() int
	String() string
}

// Statement is one top-level SQL statement. String prints SQL that parses
// back to an equal tree.
type Statement interface {
	Node
	stmt()
}

// Query is a statement that yields rows: *Select or *SetOp. Queries also
// appear inside expressions (Subquery, Exists, In), FROM (SubqueryTable) and
// WITH.
type Query interface {
	Statement
	query()
}

// Expr is a scalar expression.
type Expr interface {
	Node
	expr()
}

// TableRef is an item of a FROM clause: *TableName, *SubqueryTable,
// *TableFunc or *Join.
type TableRef interface {
	Node
	tableRef()
}

// ---------------------------------------------------------------------------
// Names

// Ident is an identifier. Unquoted identifiers match case-insensitively:
// Norm is their lower-case form. Quoted identifiers match exactly: Norm
// equals Name. Name is as written (without the quotes, "" unescaped).
//
// Timestream's measure_value::double (bigint, varchar, boolean, timestamp,
// …) is one unquoted identifier whose Name contains "::", not a cast.
type Ident struct {
	Pos
	Name   string
	Norm   string
	Quoted bool
}

// IsZero reports whether the identifier is absent (an optional alias).
func (id Ident) IsZero() bool { return id.Name == "" }

func newIdent(t token) Ident {
	if t.kind == tQIdent {
		return Ident{Pos: Pos(t.pos), Name: t.text, Norm: t.text, Quoted: true}
	}
	return Ident{Pos: Pos(t.pos), Name: t.text, Norm: strings.ToLower(t.text)}
}

// ---------------------------------------------------------------------------
// Queries

// Select is one SELECT block. When a SELECT is the whole query (not a set
// operation), With, OrderBy, Limit and Offset belong to it; for a set
// operation they belong to the SetOp.
type Select struct {
	Pos
	With     *With // nil if absent
	Distinct bool
	Items    []SelectItem
	// From lists comma-separated items, to be cross joined; each may be a
	// Join tree. Empty for SELECT without FROM.
	From  []TableRef
	Where Expr // nil if absent
	// GroupBy holds expressions; an integer Literal is an ordinal (1-based)
	// into Items, as in GROUP BY 2. Names may also refer to Items aliases.
	GroupBy []Expr
	Having  Expr // nil if absent
	OrderBy []OrderItem
	Limit   Expr // nil if absent or LIMIT ALL; also from FETCH FIRST n ROWS ONLY
	Offset  Expr // nil if absent
}

// SelectItem is one entry of a select list: an expression with an optional
// alias, * (Star, no Qualifier) or t.* (Star with Qualifier).
type SelectItem struct {
	Pos
	Expr      Expr  // nil for stars
	Alias     Ident // zero if none
	Star      bool
	Qualifier []Ident // for t.* or db.t.*
}

// With is a WITH clause.
type With struct {
	Pos
	Recursive bool
	CTEs      []CTE
}

// CTE is one common table expression: name [(columns)] AS (query).
type CTE struct {
	Pos
	Name    Ident
	Columns []Ident
	Query   Query
}

// SetOpKind is UNION, INTERSECT or EXCEPT.
type SetOpKind uint8

const (
	Union SetOpKind = iota
	Intersect
	Except
)

func (k SetOpKind) String() string {
	switch k {
	case Intersect:
		return "INTERSECT"
	case Except:
		return "EXCEPT"
	}
	return "UNION"
}

// SetOp is Left UNION|INTERSECT|EXCEPT [ALL] Right. INTERSECT binds tighter
// than UNION and EXCEPT, which associate to the left. OrderBy, Limit and
// Offset apply to the combined result.
type SetOp struct {
	Pos
	With        *With
	Op          SetOpKind
	All         bool // ALL keeps duplicates; default (and DISTINCT) removes them
	Left, Right Query
	OrderBy     []OrderItem
	Limit       Expr
	Offset      Expr
}

// Direction is an ORDER BY direction.
type Direction uint8

const (
	DirDefault Direction = iota // not written; ascending
	Asc
	Desc
)

// NullsOrder is an explicit NULLS FIRST / NULLS LAST.
type NullsOrder uint8

const (
	NullsDefault NullsOrder = iota
	NullsFirst
	NullsLast
)

// OrderItem is one ORDER BY element. An integer Literal Expr is an ordinal.
type OrderItem struct {
	Pos
	Expr  Expr
	Dir   Direction
	Nulls NullsOrder
}

// ---------------------------------------------------------------------------
// FROM items

// TableAlias is AS name [(col, …)] after a FROM item. Zero Name: no alias.
type TableAlias struct {
	Name    Ident
	Columns []Ident
}

// TableName names a table: name, db.name or "db"."name" (Qualifier holds
// the leading parts). SHOW MEASURES and DESCRIBE use it without an alias.
type TableName struct {
	Pos
	Qualifier []Ident
	Name      Ident
	Alias     TableAlias
}

// SubqueryTable is (query) [AS] alias in FROM.
type SubqueryTable struct {
	Pos
	Query Query
	Alias TableAlias
}

// TableFunc is a function call in FROM position: anomalies(…),
// forecast(…), unnest(…), generate_series(…) [AS] alias[(cols)].
type TableFunc struct {
	Pos
	Func  *Func
	Alias TableAlias
}

// JoinKind is the kind of a Join.
type JoinKind uint8

const (
	InnerJoin JoinKind = iota
	LeftJoin
	RightJoin
	FullJoin
	CrossJoin
)

func (k JoinKind) String() string {
	switch k {
	case LeftJoin:
		return "LEFT JOIN"
	case RightJoin:
		return "RIGHT JOIN"
	case FullJoin:
		return "FULL JOIN"
	case CrossJoin:
		return "CROSS JOIN"
	}
	return "JOIN"
}

// Join is Left <kind> JOIN Right ON cond | USING (cols). Joins associate to
// the left; a CROSS JOIN has neither On nor Using. OUTER is implied by
// LEFT/RIGHT/FULL.
type Join struct {
	Pos
	Kind        JoinKind
	Left, Right TableRef
	On          Expr
	Using       []Ident
}

// ---------------------------------------------------------------------------
// Expressions

// ColumnRef is a possibly qualified column name: col, t.col, db.t.col. In a
// lambda body, x.value refers to a field of the lambda parameter x.
type ColumnRef struct {
	Pos
	Qualifier []Ident
	Name      Ident
}

// LiteralKind is the type of a Literal.
type LiteralKind uint8

const (
	LitNull LiteralKind = iota
	LitBool
	LitInteger   // digits only; Value as written (may overflow int64: the planner decides)
	LitDecimal   // with a point and/or exponent; Value as written
	LitString    // Value unescaped
	LitTimestamp // TIMESTAMP '…'; Value is the string
	LitDate      // DATE '…'
	LitTime      // TIME '…'
)

// Literal is a constant. Value holds the text: "true"/"false" for LitBool,
// "" for LitNull, digits as written for numbers, the unescaped string for
// strings and typed literals (not validated here).
type Literal struct {
	Pos
	Kind  LiteralKind
	Value string
}

// Interval is INTERVAL 'value' [unit [TO unit]]: Trino INTERVAL '1' HOUR
// (Unit "HOUR") or PostgreSQL INTERVAL '1 hour' (Unit ""). Units are upper
// case: YEAR MONTH WEEK DAY HOUR MINUTE SECOND MILLISECOND. A leading sign
// inside Value is allowed ('-1').
type Interval struct {
	Pos
	Value  string
	Unit   string
	ToUnit string
}

// Duration is a Timestream duration literal: 15m, 1h, 250ms, 2day.
type Duration struct {
	Pos
	N    int64  // the count as written
	Unit string // as written, lower-case: ns us ms s m h d or the long forms
	D    time.Duration
}

// Param is a positional parameter, 1-based: $n, or ? numbered by its
// order of appearance among the ? parameters. Params print as $n, so that a
// printed statement keeps its numbering whatever order clauses print in.
type Param struct {
	Pos
	Index int
}

// BinaryOp is a binary operator.
type BinaryOp uint8

const (
	OpOr BinaryOp = iota
	OpAnd
	OpEq
	OpNe // <> and !=
	OpLt
	OpLe
	OpGt
	OpGe
	OpIsDistinctFrom
	OpIsNotDistinctFrom
	OpConcat // ||
	OpAdd
	OpSub
	OpMul
	OpDiv
	OpMod
)

var binaryOpText = [...]string{
	OpOr: "OR", OpAnd: "AND", OpEq: "=", OpNe: "<>", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">=",
	OpIsDistinctFrom: "IS DISTINCT FROM", OpIsNotDistinctFrom: "IS NOT DISTINCT FROM",
	OpConcat: "||", OpAdd: "+", OpSub: "-", OpMul: "*", OpDiv: "/", OpMod: "%",
}

func (op BinaryOp) String() string { return binaryOpText[op] }

// Binary is L op R.
type Binary struct {
	Pos
	Op   BinaryOp
	L, R Expr
}

// UnaryOp is a prefix operator.
type UnaryOp uint8

const (
	OpNot UnaryOp = iota
	OpNeg
	OpPlus
)

// Unary is op X: NOT x, -x, +x.
type Unary struct {
	Pos
	Op UnaryOp
	X  Expr
}

// Func is a function call. Name.Norm is the lookup key. Star is f(*);
// Distinct is f(DISTINCT …); Filter is FILTER (WHERE …); Over is the window
// of a window function call. NoParens marks CURRENT_TIMESTAMP and friends,
// written without parentheses.
type Func struct {
	Pos
	Name     Ident
	Args     []Expr
	Distinct bool
	Star     bool
	Filter   Expr
	Over     *Window
	NoParens bool
}

// NamedArg is name => value inside a function's argument list.
type NamedArg struct {
	Pos
	Name  Ident
	Value Expr
}

// Lambda is x -> body or (a, b) -> body, an argument of Timestream's filter
// and reduce functions.
type Lambda struct {
	Pos
	Params []Ident
	Body   Expr
}

// Window is the OVER (…) clause of a window function call.
type Window struct {
	Pos
	PartitionBy []Expr
	OrderBy     []OrderItem
	Frame       *Frame // nil if absent
}

// FrameUnit is ROWS, RANGE or GROUPS.
type FrameUnit uint8

const (
	FrameRows FrameUnit = iota
	FrameRange
	FrameGroups
)

// BoundKind is the kind of a window frame bound.
type BoundKind uint8

const (
	UnboundedPreceding BoundKind = iota
	Preceding                    // Offset PRECEDING
	CurrentRow
	Following // Offset FOLLOWING
	UnboundedFollowing
)

// FrameBound is one end of a window frame.
type FrameBound struct {
	Kind   BoundKind
	Offset Expr // for Preceding and Following
}

// Frame is ROWS|RANGE|GROUPS Start, or … BETWEEN Start AND End when
// Between is set. Without BETWEEN the end is CURRENT ROW.
type Frame struct {
	Unit       FrameUnit
	Between    bool
	Start, End FrameBound
}

// Case is CASE [Operand] WHEN … THEN … [ELSE …] END. Operand is nil for a
// searched CASE; for a simple CASE each When.Cond is a value to compare.
type Case struct {
	Pos
	Operand Expr
	Whens   []When
	Else    Expr
}

// When is one WHEN cond THEN result arm.
type When struct {
	Cond, Result Expr
}

// TypeKind is a SQL type a value can be cast to.
type TypeKind uint8

const (
	TypeBoolean   TypeKind = iota
	TypeInteger            // INT, INTEGER, SMALLINT, TINYINT, INT2, INT4: 32-bit
	TypeBigint             // BIGINT, INT8
	TypeDouble             // DOUBLE [PRECISION], REAL, FLOAT, FLOAT4/8, DECIMAL, NUMERIC
	TypeVarchar            // VARCHAR[(n)], TEXT, CHAR[(n)], CHARACTER VARYING, STRING, NAME
	TypeTimestamp          // TIMESTAMP [WITH[OUT] TIME ZONE], TIMESTAMPTZ (WithTimeZone set)
	TypeDate
	TypeTime
	TypeInterval
)

var typeNames = [...]string{
	TypeBoolean: "BOOLEAN", TypeInteger: "INTEGER", TypeBigint: "BIGINT", TypeDouble: "DOUBLE",
	TypeVarchar: "VARCHAR", TypeTimestamp: "TIMESTAMP", TypeDate: "DATE", TypeTime: "TIME",
	TypeInterval: "INTERVAL",
}

func (k TypeKind) String() string { return typeNames[k] }

// Type is the target of a cast. Length is VARCHAR(n)'s n, 0 if not given.
// DECIMAL's precision and scale, TIMESTAMP(p)'s precision and INTERVAL's
// DAY TO SECOND qualifier are accepted and dropped (DECIMAL is DOUBLE here;
// timestamps are always nanoseconds).
type Type struct {
	Pos
	Kind         TypeKind
	Length       int
	WithTimeZone bool
}

// Cast is CAST(X AS Type), TRY_CAST(X AS Type) (Try: NULL instead of an
// error) or X::Type (Colons, PostgreSQL style; same meaning as CAST).
type Cast struct {
	Pos
	X      Expr
	Type   Type
	Try    bool
	Colons bool
}

// In is X [NOT] IN (List…) or X [NOT] IN (Query); exactly one of List and
// Query is set.
type In struct {
	Pos
	X     Expr
	Not   bool
	List  []Expr
	Query Query
}

// Between is X [NOT] BETWEEN Lo AND Hi (inclusive).
type Between struct {
	Pos
	X, Lo, Hi Expr
	Not       bool
}

// Like is X [NOT] LIKE|ILIKE Pattern [ESCAPE Escape].
type Like struct {
	Pos
	X, Pattern Expr
	Escape     Expr // nil if absent
	Not        bool
	ILike      bool // case-insensitive
}

// IsNull is X IS [NOT] NULL.
type IsNull struct {
	Pos
	X   Expr
	Not bool
}

// Exists is EXISTS (Query). NOT EXISTS is Unary{OpNot, Exists}.
type Exists struct {
	Pos
	Query Query
}

// Subquery is a scalar subquery, (Query), in expression position.
type Subquery struct {
	Pos
	Query Query
}

// Extract is EXTRACT(Field FROM X). Field is lower case: epoch, year,
// quarter, month, week, day, dow, doy, hour, minute, second, millisecond,
// … (not validated here).
type Extract struct {
	Pos
	Field string
	X     Expr
}

// Index is X[Index], an array subscript (PostgreSQL s[i], Trino a[1]).
type Index struct {
	Pos
	X, Index Expr
}

// Array is ARRAY[Elems…].
type Array struct {
	Pos
	Elems []Expr
}

// ---------------------------------------------------------------------------
// Other statements

// Explain is EXPLAIN [ANALYZE] Stmt.
type Explain struct {
	Pos
	Analyze bool
	Stmt    Statement
}

// ShowDatabases is SHOW DATABASES [LIKE 'pattern']; Like is nil or a
// LitString.
type ShowDatabases struct {
	Pos
	Like *Literal
}

// ShowTables is SHOW TABLES [FROM|IN db] [LIKE 'pattern']; Database is zero
// when absent.
type ShowTables struct {
	Pos
	Database Ident
	Like     *Literal
}

// ShowMeasures is SHOW MEASURES FROM db.table [LIKE 'pattern'].
type ShowMeasures struct {
	Pos
	Table *TableName
	Like  *Literal
}

// Describe is DESCRIBE|DESC db.table.
type Describe struct {
	Pos
	Table *TableName
}

// ShowSetting is SHOW name (a session setting such as server_version or
// search_path) or SHOW ALL.
type ShowSetting struct {
	Pos
	Name []Ident // dotted parts; nil for ALL
	All  bool
}

// SetValueKind is the kind of a SET value.
type SetValueKind uint8

const (
	SetWord   SetValueKind = iota // bare word, any keyword included (on, ISO, DEFAULT is Set.Default)
	SetString                     // 'text', unescaped
	SetNumber                     // number as written, with a leading '-' if negative
)

// SetValue is one value in SET name = v1, v2.
type SetValue struct {
	Pos
	Kind SetValueKind
	Text string
}

// Set is SET [SESSION|LOCAL] name {=|TO} value[, …], SET name TO DEFAULT, or
// SET TIME ZONE value (Name "timezone"). Scope is "", "SESSION" or "LOCAL".
type Set struct {
	Pos
	Scope   string
	Name    []Ident
	Values  []SetValue
	Default bool
}

// ColumnDef is one column of CREATE EXTERNAL TABLE. Type is the Hive type
// text as written (string, int, array<string>, struct<a:int>, …).
type ColumnDef struct {
	Pos
	Name    Ident
	Type    string
	Comment *Literal
}

// TableProperty is one 'key'='value' of TBLPROPERTIES.
type TableProperty struct {
	Key, Value string
}

// CreateExternalTable is Athena/Hive CREATE EXTERNAL TABLE, kept to the
// structure the lake needs; ROW FORMAT and STORED AS are raw source text.
type CreateExternalTable struct {
	Pos
	IfNotExists bool
	Table       *TableName
	Columns     []ColumnDef
	Comment     *Literal
	PartitionBy []ColumnDef
	RowFormat   string // text after ROW FORMAT, as written; "" if absent
	StoredAs    string // text after STORED AS, as written; "" if absent
	Location    *Literal
	Properties  []TableProperty
}

// CreateDatabase is Hive's CREATE {DATABASE|SCHEMA} [IF NOT EXISTS] name
// [COMMENT 's'] [LOCATION 's'] [WITH DBPROPERTIES (…)].
type CreateDatabase struct {
	Pos
	IfNotExists bool
	Name        Ident
	Comment     *Literal
	Location    *Literal
	Properties  []TableProperty
}

// DropTable is DROP TABLE [IF EXISTS] name.
type DropTable struct {
	Pos
	IfExists bool
	Table    *TableName
}

// DropDatabase is DROP {DATABASE|SCHEMA} [IF EXISTS] name [CASCADE].
type DropDatabase struct {
	Pos
	IfExists bool
	Name     Ident
	Cascade  bool
}

// MsckRepair is MSCK REPAIR TABLE name.
type MsckRepair struct {
	Pos
	Table *TableName
}

func (*CreateDatabase) stmt() {}
func (*DropTable) stmt()      {}
func (*DropDatabase) stmt()   {}
func (*MsckRepair) stmt()     {}

func (*Select) stmt()              {}
func (*SetOp) stmt()               {}
func (*Explain) stmt()             {}
func (*ShowDatabases) stmt()       {}
func (*ShowTables) stmt()          {}
func (*ShowMeasures) stmt()        {}
func (*Describe) stmt()            {}
func (*ShowSetting) stmt()         {}
func (*Set) stmt()                 {}
func (*CreateExternalTable) stmt() {}

func (*Select) query() {}
func (*SetOp) query()  {}

func (*TableName) tableRef()     {}
func (*SubqueryTable) tableRef() {}
func (*TableFunc) tableRef()     {}
func (*Join) tableRef()          {}

func (*ColumnRef) expr() {}
func (*Literal) expr()   {}
func (*Interval) expr()  {}
func (*Duration) expr()  {}
func (*Param) expr()     {}
func (*Binary) expr()    {}
func (*Unary) expr()     {}
func (*Func) expr()      {}
func (*NamedArg) expr()  {}
func (*Lambda) expr()    {}
func (*Case) expr()      {}
func (*Cast) expr()      {}
func (*In) expr()        {}
func (*Between) expr()   {}
func (*Like) expr()      {}
func (*IsNull) expr()    {}
func (*Exists) expr()    {}
func (*Subquery) expr()  {}
func (*Extract) expr()   {}
func (*Index) expr()     {}
func (*Array) expr()     {}
