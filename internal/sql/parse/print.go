package parse

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The printer writes normalized SQL: keywords upper case, identifiers as
// written (quoted when they were, or when they must be), single spaces, and
// parentheses only where precedence needs them. Parsing the output yields
// an equal tree, so printing it again gives the same text.

type printer struct {
	strings.Builder
}

func (w *printer) kw(s string) { w.WriteString(s) }

// ident writes an identifier, quoting it when it was quoted or when the
// bare spelling would not lex back to the same name.
func (w *printer) ident(id Ident) {
	if !id.Quoted && bareIdent(id.Name) {
		w.WriteString(id.Name)
		return
	}
	name := id.Name
	if !id.Quoted {
		// Built by hand with an unprintable bare name: quoting the
		// normalized form keeps its meaning.
		name = id.Norm
	}
	w.WriteByte('"')
	w.WriteString(strings.ReplaceAll(name, `"`, `""`))
	w.WriteByte('"')
}

// bareIdent reports whether name lexes as one unquoted, non-reserved word
// (measure_value::type included).
func bareIdent(name string) bool {
	if i := strings.Index(name, "::"); i >= 0 {
		return strings.EqualFold(name[:i], "measure_value") && bareWord(name[i+2:])
	}
	return bareWord(name) && !isReserved(name) && !noParenFuncs[strings.ToLower(name)]
}

func bareWord(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r < utf8.RuneSelf:
			c := byte(r)
			if i == 0 && !isIdentStart(c) || !isIdentPart(c) {
				return false
			}
		case r == utf8.RuneError:
			return false
		default:
			if _, q := typographicQuote(r); q || !unicode.IsLetter(r) && (i == 0 || !unicode.IsDigit(r)) {
				return false
			}
		}
	}
	return true
}

func (w *printer) names(ids []Ident) {
	for i, id := range ids {
		if i > 0 {
			w.WriteByte('.')
		}
		w.ident(id)
	}
}

func (w *printer) identList(ids []Ident) {
	for i, id := range ids {
		if i > 0 {
			w.WriteString(", ")
		}
		w.ident(id)
	}
}

func (w *printer) str(s string) {
	w.WriteByte('\'')
	w.WriteString(strings.ReplaceAll(s, "'", "''"))
	w.WriteByte('\'')
}

// ---------------------------------------------------------------------------
// Statements

func (w *printer) stmt(s Statement) {
	switch s := s.(type) {
	case *Select:
		w.selectStmt(s)
	case *SetOp:
		w.setOp(s)
	case *Explain:
		w.kw("EXPLAIN ")
		if s.Analyze {
			w.kw("ANALYZE ")
		}
		w.stmt(s.Stmt)
	case *ShowDatabases:
		w.kw("SHOW DATABASES")
		w.like(s.Like)
	case *ShowTables:
		w.kw("SHOW TABLES")
		if !s.Database.IsZero() {
			w.kw(" FROM ")
			w.ident(s.Database)
		}
		w.like(s.Like)
	case *ShowMeasures:
		w.kw("SHOW MEASURES FROM ")
		w.tableName(s.Table)
		w.like(s.Like)
	case *Describe:
		w.kw("DESCRIBE ")
		w.tableName(s.Table)
	case *ShowSetting:
		w.kw("SHOW ")
		if s.All {
			w.kw("ALL")
		} else {
			w.names(s.Name)
		}
	case *Set:
		w.kw("SET ")
		if s.Scope != "" {
			w.kw(s.Scope + " ")
		}
		w.names(s.Name)
		w.kw(" = ")
		if s.Default {
			w.kw("DEFAULT")
		}
		for i, v := range s.Values {
			if i > 0 {
				w.WriteString(", ")
			}
			if v.Kind == SetString {
				w.str(v.Text)
			} else {
				w.WriteString(v.Text)
			}
		}
	case *CreateExternalTable:
		w.createExternalTable(s)
	case *CreateDatabase:
		w.kw("CREATE DATABASE ")
		if s.IfNotExists {
			w.kw("IF NOT EXISTS ")
		}
		w.ident(s.Name)
		if s.Comment != nil {
			w.kw(" COMMENT ")
			w.str(s.Comment.Value)
		}
		if s.Location != nil {
			w.kw(" LOCATION ")
			w.str(s.Location.Value)
		}
		if len(s.Properties) > 0 {
			w.kw(" WITH DBPROPERTIES")
			w.properties(s.Properties)
		}
	case *DropTable:
		w.kw("DROP TABLE ")
		if s.IfExists {
			w.kw("IF EXISTS ")
		}
		w.tableName(s.Table)
	case *DropDatabase:
		w.kw("DROP DATABASE ")
		if s.IfExists {
			w.kw("IF EXISTS ")
		}
		w.ident(s.Name)
		if s.Cascade {
			w.kw(" CASCADE")
		}
	case *MsckRepair:
		w.kw("MSCK REPAIR TABLE ")
		w.tableName(s.Table)
	}
}

func (w *printer) like(l *Literal) {
	if l != nil {
		w.kw(" LIKE ")
		w.str(l.Value)
	}
}

func (w *printer) createExternalTable(c *CreateExternalTable) {
	w.kw("CREATE EXTERNAL TABLE ")
	if c.IfNotExists {
		w.kw("IF NOT EXISTS ")
	}
	w.tableName(c.Table)
	w.columnDefs(c.Columns)
	if c.Comment != nil {
		w.kw(" COMMENT ")
		w.str(c.Comment.Value)
	}
	if len(c.PartitionBy) > 0 {
		w.kw(" PARTITIONED BY")
		w.columnDefs(c.PartitionBy)
	}
	if c.RowFormat != "" {
		w.kw(" ROW FORMAT ")
		w.WriteString(c.RowFormat)
	}
	if c.StoredAs != "" {
		w.kw(" STORED AS ")
		w.WriteString(c.StoredAs)
	}
	if c.Location != nil {
		w.kw(" LOCATION ")
		w.str(c.Location.Value)
	}
	if len(c.Properties) > 0 {
		w.kw(" TBLPROPERTIES")
		w.properties(c.Properties)
	}
}

func (w *printer) properties(props []TableProperty) {
	w.WriteString(" (")
	for i, p := range props {
		if i > 0 {
			w.WriteString(", ")
		}
		w.str(p.Key)
		w.WriteString(" = ")
		w.str(p.Value)
	}
	w.WriteByte(')')
}

func (w *printer) columnDefs(cols []ColumnDef) {
	w.WriteString(" (")
	for i, c := range cols {
		if i > 0 {
			w.WriteString(", ")
		}
		w.ident(c.Name)
		w.WriteByte(' ')
		w.WriteString(c.Type)
		if c.Comment != nil {
			w.kw(" COMMENT ")
			w.str(c.Comment.Value)
		}
	}
	w.WriteByte(')')
}

func (w *printer) with(with *With) {
	if with == nil {
		return
	}
	w.kw("WITH ")
	if with.Recursive {
		w.kw("RECURSIVE ")
	}
	for i, c := range with.CTEs {
		if i > 0 {
			w.WriteString(", ")
		}
		w.ident(c.Name)
		if len(c.Columns) > 0 {
			w.WriteString(" (")
			w.identList(c.Columns)
			w.WriteByte(')')
		}
		w.kw(" AS (")
		w.stmt(c.Query)
		w.WriteByte(')')
	}
	w.WriteByte(' ')
}

func (w *printer) selectStmt(s *Select) {
	w.with(s.With)
	w.kw("SELECT ")
	if s.Distinct {
		w.kw("DISTINCT ")
	}
	for i, it := range s.Items {
		if i > 0 {
			w.WriteString(", ")
		}
		if it.Star {
			if len(it.Qualifier) > 0 {
				w.names(it.Qualifier)
				w.WriteByte('.')
			}
			w.WriteByte('*')
			continue
		}
		w.expr(it.Expr, 0)
		if !it.Alias.IsZero() {
			w.kw(" AS ")
			w.ident(it.Alias)
		}
	}
	if len(s.From) > 0 {
		w.kw(" FROM ")
		for i, t := range s.From {
			if i > 0 {
				w.WriteString(", ")
			}
			w.tableRef(t)
		}
	}
	if s.Where != nil {
		w.kw(" WHERE ")
		w.expr(s.Where, 0)
	}
	if len(s.GroupBy) > 0 {
		w.kw(" GROUP BY ")
		w.exprList(s.GroupBy)
	}
	if s.Having != nil {
		w.kw(" HAVING ")
		w.expr(s.Having, 0)
	}
	w.orderLimit(s.OrderBy, s.Limit, s.Offset)
}

func (w *printer) orderLimit(order []OrderItem, limit, offset Expr) {
	if len(order) > 0 {
		w.kw(" ORDER BY ")
		w.orderItems(order)
	}
	if limit != nil {
		w.kw(" LIMIT ")
		w.expr(limit, 0)
	}
	if offset != nil {
		w.kw(" OFFSET ")
		w.expr(offset, 0)
	}
}

func (w *printer) orderItems(items []OrderItem) {
	for i, it := range items {
		if i > 0 {
			w.WriteString(", ")
		}
		w.expr(it.Expr, 0)
		switch it.Dir {
		case Asc:
			w.kw(" ASC")
		case Desc:
			w.kw(" DESC")
		}
		switch it.Nulls {
		case NullsFirst:
			w.kw(" NULLS FIRST")
		case NullsLast:
			w.kw(" NULLS LAST")
		}
	}
}

func setPrec(op SetOpKind) int {
	if op == Intersect {
		return 2
	}
	return 1
}

// hasOuter reports whether q carries clauses that only a parenthesized
// operand of a set operation can hold.
func hasOuter(q Query) bool {
	w, o, l, off := outerClauses(q)
	return *w != nil || *o != nil || *l != nil || *off != nil
}

func (w *printer) setOp(s *SetOp) {
	w.with(s.With)
	prec := setPrec(s.Op)
	w.setOperand(s.Left, func(l *SetOp) bool { return setPrec(l.Op) < prec })
	w.WriteByte(' ')
	w.kw(s.Op.String())
	if s.All {
		w.kw(" ALL")
	}
	w.WriteByte(' ')
	w.setOperand(s.Right, func(r *SetOp) bool { return setPrec(r.Op) <= prec })
	w.orderLimit(s.OrderBy, s.Limit, s.Offset)
}

func (w *printer) setOperand(q Query, needParens func(*SetOp) bool) {
	paren := hasOuter(q)
	if so, ok := q.(*SetOp); ok && needParens(so) {
		paren = true
	}
	if paren {
		w.WriteByte('(')
	}
	w.stmt(q)
	if paren {
		w.WriteByte(')')
	}
}

// ---------------------------------------------------------------------------
// FROM

func (w *printer) tableName(t *TableName) {
	if len(t.Qualifier) > 0 {
		w.names(t.Qualifier)
		w.WriteByte('.')
	}
	w.ident(t.Name)
}

func (w *printer) alias(a TableAlias) {
	if a.Name.IsZero() {
		return
	}
	w.kw(" AS ")
	w.ident(a.Name)
	if len(a.Columns) > 0 {
		w.WriteString(" (")
		w.identList(a.Columns)
		w.WriteByte(')')
	}
}

func (w *printer) tableRef(t TableRef) {
	switch t := t.(type) {
	case *TableName:
		w.tableName(t)
		w.alias(t.Alias)
	case *SubqueryTable:
		w.WriteByte('(')
		w.stmt(t.Query)
		w.WriteByte(')')
		w.alias(t.Alias)
	case *TableFunc:
		w.funcCall(t.Func)
		w.alias(t.Alias)
	case *Join:
		w.tableRef(t.Left)
		w.WriteByte(' ')
		w.kw(t.Kind.String())
		w.WriteByte(' ')
		if _, nested := t.Right.(*Join); nested {
			w.WriteByte('(')
			w.tableRef(t.Right)
			w.WriteByte(')')
		} else {
			w.tableRef(t.Right)
		}
		if t.On != nil {
			w.kw(" ON ")
			w.expr(t.On, 0)
		} else if len(t.Using) > 0 {
			w.kw(" USING (")
			w.identList(t.Using)
			w.WriteByte(')')
		}
	}
}

// ---------------------------------------------------------------------------
// Expressions

func binaryPrec(op BinaryOp) int {
	switch op {
	case OpOr:
		return precOr
	case OpAnd:
		return precAnd
	case OpConcat:
		return precConcat
	case OpAdd, OpSub:
		return precAdd
	case OpMul, OpDiv, OpMod:
		return precMul
	}
	return precCmp
}

func exprPrec(e Expr) int {
	switch e := e.(type) {
	case *Binary:
		return binaryPrec(e.Op)
	case *Unary:
		if e.Op == OpNot {
			return precNot
		}
		return precUnary
	case *In, *Between, *Like, *IsNull:
		return precCmp
	case *Cast:
		if e.Colons {
			return precPostfix
		}
	case *Index:
		return precPostfix
	case *Lambda:
		// A lambda body extends as far as it can: parenthesize it
		// anywhere but a full-expression position.
		return 0
	}
	return precPrimary
}

func (w *printer) exprList(list []Expr) {
	for i, e := range list {
		if i > 0 {
			w.WriteString(", ")
		}
		w.expr(e, 0)
	}
}

// expr writes e, in parentheses if it binds looser than min.
func (w *printer) expr(e Expr, min int) {
	if exprPrec(e) < min {
		w.WriteByte('(')
		w.expr(e, 0)
		w.WriteByte(')')
		return
	}
	switch e := e.(type) {
	case *ColumnRef:
		if len(e.Qualifier) > 0 {
			w.names(e.Qualifier)
			w.WriteByte('.')
		}
		w.ident(e.Name)
	case *Literal:
		w.literal(e)
	case *Interval:
		w.kw("INTERVAL ")
		w.str(e.Value)
		if e.Unit != "" {
			w.WriteByte(' ')
			w.kw(e.Unit)
			if e.ToUnit != "" {
				w.kw(" TO ")
				w.kw(e.ToUnit)
			}
		}
	case *Duration:
		w.WriteString(strconv.FormatInt(e.N, 10))
		w.WriteString(e.Unit)
	case *Param:
		w.WriteByte('$')
		w.WriteString(strconv.Itoa(e.Index))
	case *Binary:
		p := binaryPrec(e.Op)
		w.expr(e.L, p)
		w.WriteByte(' ')
		w.kw(e.Op.String())
		w.WriteByte(' ')
		w.expr(e.R, p+1)
	case *Unary:
		switch e.Op {
		case OpNot:
			w.kw("NOT ")
			w.expr(e.X, precNot)
		default:
			if e.Op == OpNeg {
				w.WriteByte('-')
			} else {
				w.WriteByte('+')
			}
			// Keep "- -x" from printing as a "--" comment.
			if u, ok := e.X.(*Unary); ok && u.Op != OpNot {
				w.WriteByte('(')
				w.expr(e.X, 0)
				w.WriteByte(')')
			} else {
				w.expr(e.X, precUnary)
			}
		}
	case *Func:
		w.funcCall(e)
	case *NamedArg:
		w.ident(e.Name)
		w.WriteString(" => ")
		w.expr(e.Value, 0)
	case *Lambda:
		if len(e.Params) == 1 {
			w.ident(e.Params[0])
		} else {
			w.WriteByte('(')
			w.identList(e.Params)
			w.WriteByte(')')
		}
		w.WriteString(" -> ")
		w.expr(e.Body, 0)
	case *Case:
		w.kw("CASE")
		if e.Operand != nil {
			w.WriteByte(' ')
			w.expr(e.Operand, 0)
		}
		for _, wh := range e.Whens {
			w.kw(" WHEN ")
			w.expr(wh.Cond, 0)
			w.kw(" THEN ")
			w.expr(wh.Result, 0)
		}
		if e.Else != nil {
			w.kw(" ELSE ")
			w.expr(e.Else, 0)
		}
		w.kw(" END")
	case *Cast:
		if e.Colons {
			// measure_value::int would read back as a column name.
			if c, ok := e.X.(*ColumnRef); ok && !c.Name.Quoted && strings.EqualFold(c.Name.Name, "measure_value") {
				w.WriteByte('(')
				w.expr(e.X, 0)
				w.WriteByte(')')
			} else {
				w.expr(e.X, precPostfix)
			}
			w.WriteString("::")
			w.typ(e.Type)
			return
		}
		if e.Try {
			w.kw("TRY_CAST(")
		} else {
			w.kw("CAST(")
		}
		w.expr(e.X, 0)
		w.kw(" AS ")
		w.typ(e.Type)
		w.WriteByte(')')
	case *In:
		w.expr(e.X, precCmp)
		if e.Not {
			w.kw(" NOT")
		}
		w.kw(" IN (")
		if e.Query != nil {
			w.stmt(e.Query)
		} else {
			w.exprList(e.List)
		}
		w.WriteByte(')')
	case *Between:
		w.expr(e.X, precCmp)
		if e.Not {
			w.kw(" NOT")
		}
		w.kw(" BETWEEN ")
		w.expr(e.Lo, precConcat)
		w.kw(" AND ")
		w.expr(e.Hi, precConcat)
	case *Like:
		w.expr(e.X, precCmp)
		if e.Not {
			w.kw(" NOT")
		}
		if e.ILike {
			w.kw(" ILIKE ")
		} else {
			w.kw(" LIKE ")
		}
		w.expr(e.Pattern, precConcat)
		if e.Escape != nil {
			w.kw(" ESCAPE ")
			w.expr(e.Escape, precConcat)
		}
	case *IsNull:
		w.expr(e.X, precCmp)
		if e.Not {
			w.kw(" IS NOT NULL")
		} else {
			w.kw(" IS NULL")
		}
	case *Exists:
		w.kw("EXISTS (")
		w.stmt(e.Query)
		w.WriteByte(')')
	case *Subquery:
		w.WriteByte('(')
		w.stmt(e.Query)
		w.WriteByte(')')
	case *Extract:
		w.kw("EXTRACT(")
		if bareWord(e.Field) {
			w.WriteString(e.Field)
		} else {
			w.str(e.Field)
		}
		w.kw(" FROM ")
		w.expr(e.X, 0)
		w.WriteByte(')')
	case *Index:
		// A bare column named array would print as an ARRAY[…] literal.
		if c, ok := e.X.(*ColumnRef); ok && len(c.Qualifier) == 0 && !c.Name.Quoted && strings.EqualFold(c.Name.Name, "array") {
			w.WriteByte('(')
			w.expr(e.X, 0)
			w.WriteByte(')')
		} else {
			w.expr(e.X, precPostfix)
		}
		w.WriteByte('[')
		w.expr(e.Index, 0)
		w.WriteByte(']')
	case *Array:
		w.kw("ARRAY[")
		w.exprList(e.Elems)
		w.WriteByte(']')
	}
}

func (w *printer) literal(l *Literal) {
	switch l.Kind {
	case LitNull:
		w.kw("NULL")
	case LitBool:
		w.kw(strings.ToUpper(l.Value))
	case LitInteger, LitDecimal:
		w.WriteString(l.Value)
	case LitString:
		w.str(l.Value)
	case LitTimestamp:
		w.kw("TIMESTAMP ")
		w.str(l.Value)
	case LitDate:
		w.kw("DATE ")
		w.str(l.Value)
	case LitTime:
		w.kw("TIME ")
		w.str(l.Value)
	}
}

func (w *printer) typ(t Type) {
	w.kw(t.Kind.String())
	if t.Length > 0 {
		w.WriteByte('(')
		w.WriteString(strconv.Itoa(t.Length))
		w.WriteByte(')')
	}
	if t.WithTimeZone {
		w.kw(" WITH TIME ZONE")
	}
}

func (w *printer) funcCall(f *Func) {
	// Names the parser accepts bare although reserved (left, right,
	// current_date, …) print bare.
	lower := strings.ToLower(f.Name.Name)
	if !f.Name.Quoted && (lower == "left" || lower == "right" || noParenFuncs[lower]) {
		w.WriteString(f.Name.Name)
	} else {
		w.ident(f.Name)
	}
	if f.NoParens {
		return
	}
	w.WriteByte('(')
	switch {
	case f.Star:
		w.WriteByte('*')
	default:
		if f.Distinct {
			w.kw("DISTINCT ")
		}
		w.exprList(f.Args)
	}
	w.WriteByte(')')
	if f.Filter != nil {
		w.kw(" FILTER (WHERE ")
		w.expr(f.Filter, 0)
		w.WriteByte(')')
	}
	if f.Over != nil {
		w.kw(" OVER (")
		w.window(f.Over)
		w.WriteByte(')')
	}
}

func (w *printer) window(win *Window) {
	sep := ""
	if len(win.PartitionBy) > 0 {
		w.kw("PARTITION BY ")
		w.exprList(win.PartitionBy)
		sep = " "
	}
	if len(win.OrderBy) > 0 {
		w.WriteString(sep)
		w.kw("ORDER BY ")
		w.orderItems(win.OrderBy)
		sep = " "
	}
	if f := win.Frame; f != nil {
		w.WriteString(sep)
		switch f.Unit {
		case FrameRows:
			w.kw("ROWS ")
		case FrameRange:
			w.kw("RANGE ")
		case FrameGroups:
			w.kw("GROUPS ")
		}
		if f.Between {
			w.kw("BETWEEN ")
			w.frameBound(f.Start)
			w.kw(" AND ")
			w.frameBound(f.End)
		} else {
			w.frameBound(f.Start)
		}
	}
}

func (w *printer) frameBound(b FrameBound) {
	switch b.Kind {
	case UnboundedPreceding:
		w.kw("UNBOUNDED PRECEDING")
	case UnboundedFollowing:
		w.kw("UNBOUNDED FOLLOWING")
	case CurrentRow:
		w.kw("CURRENT ROW")
	case Preceding:
		w.expr(b.Offset, precConcat)
		w.kw(" PRECEDING")
	case Following:
		w.expr(b.Offset, precConcat)
		w.kw(" FOLLOWING")
	}
}

// ---------------------------------------------------------------------------
// String methods

func stmtString(s Statement) string {
	var w printer
	w.stmt(s)
	return w.String()
}

func exprString(e Expr) string {
	var w printer
	w.expr(e, 0)
	return w.String()
}

func tableString(t TableRef) string {
	var w printer
	w.tableRef(t)
	return w.String()
}

func (s *Select) String() string              { return stmtString(s) }
func (s *SetOp) String() string               { return stmtString(s) }
func (s *Explain) String() string             { return stmtString(s) }
func (s *ShowDatabases) String() string       { return stmtString(s) }
func (s *ShowTables) String() string          { return stmtString(s) }
func (s *ShowMeasures) String() string        { return stmtString(s) }
func (s *Describe) String() string            { return stmtString(s) }
func (s *ShowSetting) String() string         { return stmtString(s) }
func (s *Set) String() string                 { return stmtString(s) }
func (s *CreateExternalTable) String() string { return stmtString(s) }
func (s *CreateDatabase) String() string      { return stmtString(s) }
func (s *DropTable) String() string           { return stmtString(s) }
func (s *DropDatabase) String() string        { return stmtString(s) }
func (s *MsckRepair) String() string          { return stmtString(s) }

func (t *TableName) String() string     { return tableString(t) }
func (t *SubqueryTable) String() string { return tableString(t) }
func (t *TableFunc) String() string     { return tableString(t) }
func (t *Join) String() string          { return tableString(t) }

func (e *ColumnRef) String() string { return exprString(e) }
func (e *Literal) String() string   { return exprString(e) }
func (e *Interval) String() string  { return exprString(e) }
func (e *Duration) String() string  { return exprString(e) }
func (e *Param) String() string     { return exprString(e) }
func (e *Binary) String() string    { return exprString(e) }
func (e *Unary) String() string     { return exprString(e) }
func (e *Func) String() string      { return exprString(e) }
func (e *NamedArg) String() string  { return exprString(e) }
func (e *Lambda) String() string    { return exprString(e) }
func (e *Case) String() string      { return exprString(e) }
func (e *Cast) String() string      { return exprString(e) }
func (e *In) String() string        { return exprString(e) }
func (e *Between) String() string   { return exprString(e) }
func (e *Like) String() string      { return exprString(e) }
func (e *IsNull) String() string    { return exprString(e) }
func (e *Exists) String() string    { return exprString(e) }
func (e *Subquery) String() string  { return exprString(e) }
func (e *Extract) String() string   { return exprString(e) }
func (e *Index) String() string     { return exprString(e) }
func (e *Array) String() string     { return exprString(e) }

// String returns the identifier as SQL, quoted if needed.
func (id Ident) String() string {
	var w printer
	w.ident(id)
	return w.String()
}

// String returns the type as SQL.
func (t Type) String() string {
	var w printer
	w.typ(t)
	return w.String()
}
