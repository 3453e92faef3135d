package parse

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxDepth bounds expression and query nesting so that hostile input such as
// ((((… cannot exhaust the stack.
const maxDepth = 500

// Parse parses sql into statements separated by ';'. Empty and
// comment-only input yields zero statements and no error (PostgreSQL
// clients ping with "-- ping" and ";"). Errors are *Error; on error no
// statements are returned.
func Parse(sql string) (stmts []Statement, err error) {
	p, err := newParser(sql)
	if err != nil {
		return nil, err
	}
	// On error nothing is returned: like PostgreSQL, a string with a
	// syntax error anywhere runs none of its statements.
	defer func() {
		if err != nil {
			stmts = nil
		}
	}()
	defer p.recover(&err)
	for {
		for p.acceptOp(";") {
		}
		if p.peek().kind == tEOF {
			return stmts, nil
		}
		stmts = append(stmts, p.statement())
		if !p.acceptOp(";") && p.peek().kind != tEOF {
			p.unexpected(`";"`, "end of input")
		}
	}
}

// ParseOne parses exactly one statement (a trailing ';' is allowed).
func ParseOne(sql string) (Statement, error) {
	stmts, err := Parse(sql)
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		return nil, newError(sql, 0, fmt.Sprintf("expected one statement, found %d", len(stmts)), nil)
	}
	return stmts[0], nil
}

// ParseExpr parses a single scalar expression.
func ParseExpr(sql string) (e Expr, err error) {
	p, err := newParser(sql)
	if err != nil {
		return nil, err
	}
	defer p.recover(&err)
	e = p.expr()
	if p.peek().kind != tEOF {
		p.unexpected("end of input")
	}
	return e, nil
}

// parser is a recursive-descent parser over the token slice. Errors unwind
// with a panic of type bailout, recovered at the entry points.
type parser struct {
	src    string
	toks   []token
	i      int
	depth  int
	nquest int // ? parameters seen so far
}

type bailout struct{ err *Error }

func newParser(sql string) (*parser, error) {
	toks, lerr := lex(sql, make([]token, 0, len(sql)/5+2))
	if lerr != nil {
		return nil, lerr
	}
	return &parser{src: sql, toks: toks}, nil
}

// recover turns a bailout into the returned error. Any other panic is a
// parser bug; it is still returned as an error because SQL comes from users
// and must never take the process down.
func (p *parser) recover(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if b, ok := r.(bailout); ok {
		*err = b.err
		return
	}
	*err = newError(p.src, p.peek().pos, fmt.Sprintf("internal parser error: %v", r), nil)
}

func (p *parser) fail(pos int, msg string) {
	panic(bailout{newError(p.src, pos, msg, nil)})
}

// unexpected fails at the current token, listing what was expected.
func (p *parser) unexpected(expected ...string) {
	t := p.peek()
	msg := "unexpected " + describe(*t)
	if len(expected) > 0 {
		msg = "expected " + joinExpected(expected) + ", found " + describe(*t)
	}
	panic(bailout{newError(p.src, t.pos, msg, expected)})
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.fail(p.peek().pos, "statement nested too deeply")
	}
}

func (p *parser) leave() { p.depth-- }

// ---------------------------------------------------------------------------
// Token helpers

func (p *parser) peek() *token { return &p.toks[p.i] }

// peekAt returns the token n places ahead (EOF past the end).
func (p *parser) peekAt(n int) *token {
	if j := p.i + n; j < len(p.toks) {
		return &p.toks[j]
	}
	return &p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func isKw(t *token, kw string) bool {
	return t.kind == tIdent && len(t.text) == len(kw) && strings.EqualFold(t.text, kw)
}

func isOp(t *token, op string) bool { return t.kind == tOp && t.text == op }

func (p *parser) isKw(kw string) bool { return isKw(p.peek(), kw) }
func (p *parser) isOp(op string) bool { return isOp(p.peek(), op) }

func (p *parser) acceptKw(kw string) bool {
	if p.isKw(kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) acceptOp(op string) bool {
	if p.isOp(op) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectKw(kw string) token {
	if !p.isKw(kw) {
		p.unexpected(strings.ToUpper(kw))
	}
	return p.next()
}

func (p *parser) expectOp(op string) token {
	if !p.isOp(op) {
		p.unexpected(`"` + op + `"`)
	}
	return p.next()
}

// isName reports whether t can be used as an identifier: quoted, or an
// unquoted word that is not reserved.
func isName(t *token) bool {
	return t.kind == tQIdent || t.kind == tIdent && !isReserved(t.text)
}

// ident consumes an identifier; what names it in the error ("column name").
func (p *parser) ident(what string) Ident {
	t := p.peek()
	if !isName(t) {
		p.unexpected(what)
	}
	p.i++
	return newIdent(*t)
}

// qualifiedName reads name(.name)* and returns the leading parts and the
// last; qual is nil (no allocation) for the common undotted name.
func (p *parser) qualifiedName(what string) (qual []Ident, name Ident) {
	name = p.ident(what)
	for p.isOp(".") {
		p.i++
		qual = append(qual, name)
		name = p.ident(what)
	}
	return qual, name
}

// ---------------------------------------------------------------------------
// Statements

func (p *parser) statement() Statement {
	t := p.peek()
	switch {
	case isKw(t, "select"), isKw(t, "with"), isOp(t, "("):
		return p.query()
	case isKw(t, "explain"):
		p.i++
		e := &Explain{Pos: Pos(t.pos)}
		e.Analyze = p.acceptKw("analyze")
		e.Stmt = p.statement()
		return e
	case isKw(t, "show"):
		return p.show()
	case isKw(t, "describe"), isKw(t, "desc"):
		p.i++
		return &Describe{Pos: Pos(t.pos), Table: p.tableName("table name")}
	case isKw(t, "set"):
		return p.set()
	case isKw(t, "create"):
		if n := p.peekAt(1); isKw(n, "database") || isKw(n, "schema") {
			return p.createDatabase()
		}
		return p.createExternalTable()
	case isKw(t, "drop"):
		return p.drop()
	case isKw(t, "msck"):
		p.i++
		p.expectKw("repair")
		p.expectKw("table")
		return &MsckRepair{Pos: Pos(t.pos), Table: p.tableName("table name")}
	}
	p.unexpected("SELECT", "WITH", "SHOW", "DESCRIBE", "EXPLAIN", "SET", "CREATE", "DROP", "MSCK")
	return nil
}

func (p *parser) show() Statement {
	pos := Pos(p.next().pos)
	switch {
	case p.acceptKw("databases"), p.acceptKw("schemas"):
		return &ShowDatabases{Pos: pos, Like: p.optLike()}
	case p.acceptKw("tables"):
		s := &ShowTables{Pos: pos}
		if p.acceptKw("from") || p.acceptKw("in") {
			s.Database = p.ident("database name")
		}
		s.Like = p.optLike()
		return s
	case p.acceptKw("measures"):
		p.expectKw("from")
		return &ShowMeasures{Pos: pos, Table: p.tableName("table name"), Like: p.optLike()}
	case p.acceptKw("all"):
		return &ShowSetting{Pos: pos, All: true}
	}
	if !isName(p.peek()) {
		p.unexpected("DATABASES", "TABLES", "MEASURES", "ALL", "setting name")
	}
	qual, name := p.qualifiedName("setting name")
	return &ShowSetting{Pos: pos, Name: append(qual, name)}
}

func (p *parser) optLike() *Literal {
	if !p.acceptKw("like") {
		return nil
	}
	t := p.peek()
	if t.kind != tString {
		p.unexpected("string")
	}
	p.i++
	return &Literal{Pos: Pos(t.pos), Kind: LitString, Value: t.text}
}

func (p *parser) tableName(what string) *TableName {
	pos := p.peek().pos
	qual, name := p.qualifiedName(what)
	return &TableName{Pos: Pos(pos), Qualifier: qual, Name: name}
}

func (p *parser) set() Statement {
	s := &Set{Pos: Pos(p.next().pos)}
	if p.acceptKw("session") {
		s.Scope = "SESSION"
	} else if p.acceptKw("local") {
		s.Scope = "LOCAL"
	}
	if p.isKw("time") && isKw(p.peekAt(1), "zone") {
		// SET TIME ZONE x is PostgreSQL's spelling of SET timezone = x.
		t := p.next()
		p.i++
		s.Name = []Ident{{Pos: Pos(t.pos), Name: "timezone", Norm: "timezone"}}
	} else {
		qual, name := p.qualifiedName("setting name")
		s.Name = append(qual, name)
		if !p.acceptOp("=") && !p.acceptKw("to") {
			p.unexpected(`"="`, "TO")
		}
	}
	if p.acceptKw("default") {
		s.Default = true
		return s
	}
	for {
		s.Values = append(s.Values, p.setValue())
		if !p.acceptOp(",") {
			return s
		}
	}
}

func (p *parser) setValue() SetValue {
	t := p.peek()
	switch t.kind {
	case tString:
		p.i++
		return SetValue{Pos: Pos(t.pos), Kind: SetString, Text: t.text}
	case tNumber:
		p.i++
		return SetValue{Pos: Pos(t.pos), Kind: SetNumber, Text: t.text}
	case tIdent:
		p.i++
		return SetValue{Pos: Pos(t.pos), Kind: SetWord, Text: t.text}
	case tQIdent:
		// A setting's value is text either way; "$user" and '$user' agree.
		p.i++
		return SetValue{Pos: Pos(t.pos), Kind: SetString, Text: t.text}
	}
	if isOp(t, "-") && p.peekAt(1).kind == tNumber {
		p.i++
		n := p.next()
		return SetValue{Pos: Pos(t.pos), Kind: SetNumber, Text: "-" + n.text}
	}
	p.unexpected("value")
	return SetValue{}
}

// createExternalTable parses Athena/Hive DDL:
//
//	CREATE EXTERNAL TABLE [IF NOT EXISTS] name (col type [COMMENT 's'], …)
//	  [COMMENT 's'] [PARTITIONED BY (col type, …)] [ROW FORMAT …]
//	  [STORED AS …] [LOCATION 's'] [TBLPROPERTIES ('k'='v', …)]
func (p *parser) createExternalTable() Statement {
	c := &CreateExternalTable{Pos: Pos(p.next().pos)}
	p.expectKw("external")
	p.expectKw("table")
	if p.acceptKw("if") {
		p.expectKw("not")
		p.expectKw("exists")
		c.IfNotExists = true
	}
	c.Table = p.tableName("table name")
	c.Columns = p.columnDefs()
	seen := map[string]bool{}
	clause := func(name string) {
		if seen[name] {
			p.fail(p.peek().pos, name+" given twice")
		}
		seen[name] = true
	}
	for {
		t := p.peek()
		switch {
		case isKw(t, "comment"):
			clause("COMMENT")
			p.i++
			c.Comment = p.stringLit()
		case isKw(t, "partitioned"):
			clause("PARTITIONED BY")
			p.i++
			p.expectKw("by")
			c.PartitionBy = p.columnDefs()
		case isKw(t, "row"):
			clause("ROW FORMAT")
			p.i++
			p.expectKw("format")
			c.RowFormat = p.rawUntil("stored", "location", "tblproperties", "comment", "partitioned")
		case isKw(t, "stored"):
			clause("STORED AS")
			p.i++
			p.expectKw("as")
			c.StoredAs = p.rawUntil("row", "location", "tblproperties", "comment", "partitioned")
		case isKw(t, "location"):
			clause("LOCATION")
			p.i++
			c.Location = p.stringLit()
		case isKw(t, "tblproperties"):
			clause("TBLPROPERTIES")
			p.i++
			c.Properties = p.properties()
		default:
			return c
		}
	}
}

// createDatabase parses Hive's CREATE {DATABASE|SCHEMA} [IF NOT EXISTS]
// name [COMMENT 's'] [LOCATION 's'] [WITH DBPROPERTIES ('k'='v', …)].
func (p *parser) createDatabase() Statement {
	c := &CreateDatabase{Pos: Pos(p.next().pos)}
	p.i++ // DATABASE or SCHEMA
	if p.acceptKw("if") {
		p.expectKw("not")
		p.expectKw("exists")
		c.IfNotExists = true
	}
	c.Name = p.ident("database name")
	if p.acceptKw("comment") {
		c.Comment = p.stringLit()
	}
	if p.acceptKw("location") {
		c.Location = p.stringLit()
	}
	if p.acceptKw("with") {
		p.expectKw("dbproperties")
		c.Properties = p.properties()
	}
	return c
}

// drop parses DROP TABLE [IF EXISTS] name and DROP {DATABASE|SCHEMA}
// [IF EXISTS] name [RESTRICT|CASCADE].
func (p *parser) drop() Statement {
	pos := Pos(p.next().pos)
	ifExists := func() bool {
		if p.acceptKw("if") {
			p.expectKw("exists")
			return true
		}
		return false
	}
	switch {
	case p.acceptKw("table"):
		d := &DropTable{Pos: pos, IfExists: ifExists()}
		d.Table = p.tableName("table name")
		return d
	case p.acceptKw("database"), p.acceptKw("schema"):
		d := &DropDatabase{Pos: pos, IfExists: ifExists()}
		d.Name = p.ident("database name")
		if p.acceptKw("cascade") {
			d.Cascade = true
		} else {
			p.acceptKw("restrict")
		}
		return d
	}
	p.unexpected("TABLE", "DATABASE", "SCHEMA")
	return nil
}

// properties parses ('k' = 'v', …).
func (p *parser) properties() []TableProperty {
	p.expectOp("(")
	var props []TableProperty
	for {
		k := p.stringLit()
		p.expectOp("=")
		v := p.stringLit()
		props = append(props, TableProperty{Key: k.Value, Value: v.Value})
		if !p.acceptOp(",") {
			break
		}
	}
	p.expectOp(")")
	return props
}

func (p *parser) stringLit() *Literal {
	t := p.peek()
	if t.kind != tString {
		p.unexpected("string")
	}
	p.i++
	return &Literal{Pos: Pos(t.pos), Kind: LitString, Value: t.text}
}

func (p *parser) columnDefs() []ColumnDef {
	p.expectOp("(")
	var cols []ColumnDef
	for {
		// A reserved word needs quotes (backquotes in Hive), as elsewhere.
		name := p.peek()
		col := ColumnDef{Pos: Pos(name.pos), Name: p.ident("column name")}
		col.Type = p.hiveType()
		if p.acceptKw("comment") {
			col.Comment = p.stringLit()
		}
		cols = append(cols, col)
		if !p.acceptOp(",") {
			break
		}
	}
	p.expectOp(")")
	return cols
}

// hiveType returns the text of a Hive column type: a word with optional
// (…) arguments or <…> element types, which may nest.
func (p *parser) hiveType() string {
	t := p.peek()
	if t.kind != tIdent {
		p.unexpected("column type")
	}
	first := p.i
	p.i++
	if p.isOp("(") || p.isOp("<") {
		depth := 0
		for {
			t := p.next()
			switch {
			case t.kind == tEOF:
				p.fail(p.toks[first].pos, "unterminated column type")
			case isOp(&t, "(") || isOp(&t, "<"):
				depth++
			case isOp(&t, ")") || isOp(&t, ">"):
				depth--
			}
			if depth == 0 {
				break
			}
		}
	}
	return p.tokenText(first, p.i)
}

// rawUntil returns the text up to the next of the given keywords (or ';' /
// end of input).
func (p *parser) rawUntil(stops ...string) string {
	first := p.i
	for {
		t := p.peek()
		if t.kind == tEOF || isOp(t, ";") {
			break
		}
		stop := false
		for _, s := range stops {
			if isKw(t, s) {
				stop = true
			}
		}
		if stop {
			break
		}
		p.i++
	}
	if p.i == first {
		p.unexpected("clause text")
	}
	return p.tokenText(first, p.i)
}

// tokenText joins the source text of tokens [from, to) with single spaces
// where the source had whitespace or comments, so the result re-lexes to
// the same tokens.
func (p *parser) tokenText(from, to int) string {
	var b strings.Builder
	for j := from; j < to; j++ {
		t := &p.toks[j]
		if j > from && t.pos > p.toks[j-1].end {
			b.WriteByte(' ')
		}
		b.WriteString(p.src[t.pos:t.end])
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// Queries

// isQueryStart reports whether the tokens at n ahead begin a query, looking
// through opening parentheses (at most maxDepth, deeper fails anyway, and
// the bound keeps runs of '(' from costing quadratic time).
func (p *parser) isQueryStart(n int) bool {
	for end := n + maxDepth; isOp(p.peekAt(n), "(") && n < end; n++ {
	}
	t := p.peekAt(n)
	return isKw(t, "select") || isKw(t, "with")
}

// query parses [WITH …] body [ORDER BY …] [LIMIT|OFFSET|FETCH …].
func (p *parser) query() Query {
	p.enter()
	defer p.leave()
	var with *With
	if p.isKw("with") {
		with = p.with()
	}
	body := p.setExpr(0)
	orderBy, limit, offset := p.orderLimit()
	w, o, l, off := outerClauses(body)
	if with != nil && *w != nil || orderBy != nil && *o != nil || limit != nil && *l != nil || offset != nil && *off != nil {
		p.fail(body.Start(), "clause given both inside and outside the parentheses")
	}
	if with != nil {
		*w = with
	}
	if orderBy != nil {
		*o = orderBy
	}
	if limit != nil {
		*l = limit
	}
	if offset != nil {
		*off = offset
	}
	return body
}

// outerClauses returns pointers to the clauses a query body shares between
// Select and SetOp.
func outerClauses(q Query) (**With, *[]OrderItem, *Expr, *Expr) {
	if s, ok := q.(*Select); ok {
		return &s.With, &s.OrderBy, &s.Limit, &s.Offset
	}
	s := q.(*SetOp)
	return &s.With, &s.OrderBy, &s.Limit, &s.Offset
}

func (p *parser) with() *With {
	w := &With{Pos: Pos(p.next().pos)}
	w.Recursive = p.acceptKw("recursive")
	for {
		cte := CTE{Pos: Pos(p.peek().pos), Name: p.ident("CTE name")}
		if p.acceptOp("(") {
			cte.Columns = p.identList("column name")
			p.expectOp(")")
		}
		p.expectKw("as")
		p.expectOp("(")
		cte.Query = p.query()
		p.expectOp(")")
		w.CTEs = append(w.CTEs, cte)
		if !p.acceptOp(",") {
			return w
		}
	}
}

func (p *parser) identList(what string) []Ident {
	ids := []Ident{p.ident(what)}
	for p.acceptOp(",") {
		ids = append(ids, p.ident(what))
	}
	return ids
}

func setOpPrec(t *token) (SetOpKind, int) {
	switch {
	case isKw(t, "union"):
		return Union, 1
	case isKw(t, "except"):
		return Except, 1
	case isKw(t, "intersect"):
		return Intersect, 2
	}
	return 0, 0
}

// setExpr parses set operations by precedence climbing: INTERSECT binds
// tighter than UNION and EXCEPT; all associate to the left.
func (p *parser) setExpr(minPrec int) Query {
	left := p.setOperand()
	for {
		t := p.peek()
		op, prec := setOpPrec(t)
		if prec == 0 || prec <= minPrec {
			return left
		}
		p.i++
		s := &SetOp{Pos: Pos(left.Start()), Op: op, Left: left}
		if p.acceptKw("all") {
			s.All = true
		} else {
			p.acceptKw("distinct")
		}
		s.Right = p.setExpr(prec)
		left = s
	}
}

func (p *parser) setOperand() Query {
	if p.isOp("(") {
		p.i++
		q := p.query()
		p.expectOp(")")
		return q
	}
	if !p.isKw("select") {
		p.unexpected("SELECT", `"("`)
	}
	return p.selectCore()
}

func (p *parser) orderLimit() (orderBy []OrderItem, limit, offset Expr) {
	if p.isKw("order") {
		p.i++
		p.expectKw("by")
		orderBy = p.orderItems()
	}
	// LIMIT and OFFSET in either order (Trino wants OFFSET first,
	// PostgreSQL accepts both); FETCH FIRST is the standard LIMIT.
	for {
		switch {
		case limit == nil && p.isKw("limit"):
			p.i++
			if p.acceptKw("all") {
				continue
			}
			limit = p.expr()
		case offset == nil && p.isKw("offset"):
			p.i++
			offset = p.expr()
			if !p.acceptKw("rows") {
				p.acceptKw("row")
			}
		case limit == nil && p.isKw("fetch"):
			t := p.next()
			if !p.acceptKw("first") && !p.acceptKw("next") {
				p.unexpected("FIRST", "NEXT")
			}
			if p.isKw("row") || p.isKw("rows") {
				limit = &Literal{Pos: Pos(t.pos), Kind: LitInteger, Value: "1"}
			} else {
				limit = p.expr()
			}
			if !p.acceptKw("rows") && !p.acceptKw("row") {
				p.unexpected("ROWS")
			}
			p.expectKw("only")
		default:
			return
		}
	}
}

func (p *parser) orderItems() []OrderItem {
	var items []OrderItem
	for {
		it := OrderItem{Pos: Pos(p.peek().pos), Expr: p.expr()}
		if p.acceptKw("asc") {
			it.Dir = Asc
		} else if p.acceptKw("desc") {
			it.Dir = Desc
		}
		if p.acceptKw("nulls") {
			if p.acceptKw("first") {
				it.Nulls = NullsFirst
			} else if p.acceptKw("last") {
				it.Nulls = NullsLast
			} else {
				p.unexpected("FIRST", "LAST")
			}
		}
		items = append(items, it)
		if !p.acceptOp(",") {
			return items
		}
	}
}

func (p *parser) selectCore() *Select {
	s := &Select{Pos: Pos(p.next().pos)}
	if p.acceptKw("distinct") {
		s.Distinct = true
	} else {
		p.acceptKw("all")
	}
	for {
		s.Items = append(s.Items, p.selectItem())
		if !p.acceptOp(",") {
			break
		}
	}
	if p.acceptKw("from") {
		for {
			s.From = append(s.From, p.tableRef())
			if !p.acceptOp(",") {
				break
			}
		}
	}
	if p.acceptKw("where") {
		s.Where = p.expr()
	}
	if p.isKw("group") {
		p.i++
		p.expectKw("by")
		for {
			s.GroupBy = append(s.GroupBy, p.expr())
			if !p.acceptOp(",") {
				break
			}
		}
	}
	if p.acceptKw("having") {
		s.Having = p.expr()
	}
	return s
}

func (p *parser) selectItem() SelectItem {
	t := p.peek()
	it := SelectItem{Pos: Pos(t.pos)}
	if isOp(t, "*") {
		p.i++
		it.Star = true
		return it
	}
	// t.* and db.t.*: names joined by dots, ending in .*
	n := 0
	for (p.peekAt(n).kind == tIdent || p.peekAt(n).kind == tQIdent) && isOp(p.peekAt(n+1), ".") {
		n += 2
	}
	if n > 0 && isOp(p.peekAt(n), "*") {
		for j := 0; j < n; j += 2 {
			it.Qualifier = append(it.Qualifier, p.ident("table name"))
			p.i++ // the dot
		}
		p.i++ // the star
		it.Star = true
		return it
	}
	if t.kind == tEOF || isKw(t, "from") {
		p.unexpected("expression")
	}
	it.Expr = p.expr()
	it.Alias = p.optAlias()
	return it
}

// optAlias reads [AS] name. A bare alias must not be a reserved word.
func (p *parser) optAlias() Ident {
	if p.acceptKw("as") {
		return p.ident("alias")
	}
	if isName(p.peek()) {
		return newIdent(p.next())
	}
	return Ident{}
}

func (p *parser) optTableAlias() TableAlias {
	a := TableAlias{Name: p.optAlias()}
	if !a.Name.IsZero() && p.acceptOp("(") {
		a.Columns = p.identList("column name")
		p.expectOp(")")
	}
	return a
}

// tableRef parses one comma-separated FROM item: a primary followed by
// joins, which associate to the left.
func (p *parser) tableRef() TableRef {
	p.enter()
	defer p.leave()
	left := p.tablePrimary()
	for {
		t := p.peek()
		j := &Join{Pos: Pos(t.pos), Left: left}
		switch {
		case isKw(t, "cross"):
			p.i++
			p.expectKw("join")
			j.Kind = CrossJoin
			j.Right = p.tablePrimary()
			left = j
			continue
		case isKw(t, "join"):
			p.i++
			j.Kind = InnerJoin
		case isKw(t, "inner"):
			p.i++
			p.expectKw("join")
			j.Kind = InnerJoin
		case isKw(t, "left"), isKw(t, "right"), isKw(t, "full"):
			p.i++
			switch {
			case isKw(t, "left"):
				j.Kind = LeftJoin
			case isKw(t, "right"):
				j.Kind = RightJoin
			default:
				j.Kind = FullJoin
			}
			p.acceptKw("outer")
			p.expectKw("join")
		default:
			return left
		}
		j.Right = p.tablePrimary()
		if p.acceptKw("on") {
			j.On = p.expr()
		} else if p.acceptKw("using") {
			p.expectOp("(")
			j.Using = p.identList("column name")
			p.expectOp(")")
		} else {
			p.unexpected("ON", "USING")
		}
		left = j
	}
}

func (p *parser) tablePrimary() TableRef {
	t := p.peek()
	if isOp(t, "(") {
		if p.isQueryStart(1) {
			p.i++
			q := p.query()
			p.expectOp(")")
			return &SubqueryTable{Pos: Pos(t.pos), Query: q, Alias: p.optTableAlias()}
		}
		p.i++
		r := p.tableRef()
		p.expectOp(")")
		return r
	}
	if !isName(t) {
		p.unexpected("table name", "subquery")
	}
	qual, name := p.qualifiedName("table name")
	if qual == nil && p.isOp("(") {
		f := p.funcCall(name)
		return &TableFunc{Pos: Pos(t.pos), Func: f, Alias: p.optTableAlias()}
	}
	return &TableName{Pos: Pos(t.pos), Qualifier: qual, Name: name, Alias: p.optTableAlias()}
}

// ---------------------------------------------------------------------------
// Expressions, lowest precedence first:
//
//	OR < AND < NOT < comparison and predicates (= <> < IS IN BETWEEN LIKE)
//	< || < + - < * / % < unary - + < postfix (:: and [i]) < primary

// Precedence levels, shared with the printer.
const (
	precOr = iota + 1
	precAnd
	precNot
	precCmp
	precConcat
	precAdd
	precMul
	precUnary
	precPostfix
	precPrimary
)

func (p *parser) expr() Expr {
	p.enter()
	defer p.leave()
	return p.or()
}

func (p *parser) or() Expr {
	l := p.and()
	for p.isKw("or") {
		p.i++
		l = &Binary{Pos: Pos(l.Start()), Op: OpOr, L: l, R: p.and()}
	}
	return l
}

func (p *parser) and() Expr {
	l := p.not()
	for p.isKw("and") {
		p.i++
		l = &Binary{Pos: Pos(l.Start()), Op: OpAnd, L: l, R: p.not()}
	}
	return l
}

func (p *parser) not() Expr {
	if p.isKw("not") {
		t := p.next()
		p.enter()
		defer p.leave()
		return &Unary{Pos: Pos(t.pos), Op: OpNot, X: p.not()}
	}
	return p.predicate()
}

var cmpOps = map[string]BinaryOp{"=": OpEq, "<>": OpNe, "!=": OpNe, "<": OpLt, "<=": OpLe, ">": OpGt, ">=": OpGe}

// predicate parses comparisons and IS/IN/BETWEEN/LIKE, all at one level and
// associating to the left.
func (p *parser) predicate() Expr {
	l := p.concat()
	for {
		t := p.peek()
		pos := Pos(l.Start())
		if t.kind == tOp {
			op, ok := cmpOps[t.text]
			if !ok {
				return l
			}
			p.i++
			l = &Binary{Pos: pos, Op: op, L: l, R: p.concat()}
			continue
		}
		not := false
		if isKw(t, "not") {
			nt := p.peekAt(1)
			if !isKw(nt, "in") && !isKw(nt, "between") && !isKw(nt, "like") && !isKw(nt, "ilike") {
				return l
			}
			not = true
			p.i++
			t = p.peek()
		}
		switch {
		case isKw(t, "is"):
			p.i++
			isNot := p.acceptKw("not")
			if p.acceptKw("null") {
				l = &IsNull{Pos: pos, X: l, Not: isNot}
				continue
			}
			if p.acceptKw("distinct") {
				p.expectKw("from")
				op := OpIsDistinctFrom
				if isNot {
					op = OpIsNotDistinctFrom
				}
				l = &Binary{Pos: pos, Op: op, L: l, R: p.concat()}
				continue
			}
			p.unexpected("NULL", "DISTINCT FROM")
		case isKw(t, "between"):
			p.i++
			p.acceptKw("asymmetric")
			lo := p.concat()
			p.expectKw("and")
			l = &Between{Pos: pos, X: l, Lo: lo, Hi: p.concat(), Not: not}
		case isKw(t, "in"):
			p.i++
			in := &In{Pos: pos, X: l, Not: not}
			p.expectOp("(")
			if p.isQueryStart(0) {
				in.Query = p.query()
			} else {
				in.List = p.exprList()
			}
			p.expectOp(")")
			l = in
		case isKw(t, "like"), isKw(t, "ilike"):
			p.i++
			lk := &Like{Pos: pos, X: l, Not: not, ILike: isKw(t, "ilike"), Pattern: p.concat()}
			if p.acceptKw("escape") {
				lk.Escape = p.concat()
			}
			l = lk
		default:
			return l
		}
	}
}

func (p *parser) exprList() []Expr {
	list := []Expr{p.expr()}
	for p.acceptOp(",") {
		list = append(list, p.expr())
	}
	return list
}

func (p *parser) concat() Expr {
	l := p.additive()
	for p.isOp("||") {
		p.i++
		l = &Binary{Pos: Pos(l.Start()), Op: OpConcat, L: l, R: p.additive()}
	}
	return l
}

func (p *parser) additive() Expr {
	l := p.multiplicative()
	for {
		var op BinaryOp
		switch {
		case p.isOp("+"):
			op = OpAdd
		case p.isOp("-"):
			op = OpSub
		default:
			return l
		}
		p.i++
		l = &Binary{Pos: Pos(l.Start()), Op: op, L: l, R: p.multiplicative()}
	}
}

func (p *parser) multiplicative() Expr {
	l := p.unary()
	for {
		var op BinaryOp
		switch {
		case p.isOp("*"):
			op = OpMul
		case p.isOp("/"):
			op = OpDiv
		case p.isOp("%"):
			op = OpMod
		default:
			return l
		}
		p.i++
		l = &Binary{Pos: Pos(l.Start()), Op: op, L: l, R: p.unary()}
	}
}

func (p *parser) unary() Expr {
	t := p.peek()
	if isOp(t, "-") || isOp(t, "+") {
		p.i++
		p.enter()
		defer p.leave()
		op := OpNeg
		if t.text == "+" {
			op = OpPlus
		}
		return &Unary{Pos: Pos(t.pos), Op: op, X: p.unary()}
	}
	return p.postfix()
}

func (p *parser) postfix() Expr {
	x := p.primary()
	for {
		switch {
		case p.isOp("::"):
			prev := &p.toks[p.i-1] // the name itself, unless parenthesized
			p.i++
			if c, ok := x.(*ColumnRef); ok && isKw(prev, "measure_value") && c.Name.Norm == "measure_value" {
				// Timestream column name, not a cast: measure_value::double.
				t := p.peek()
				if t.kind != tIdent {
					p.unexpected("measure type")
				}
				p.i++
				c.Name.Name += "::" + t.text
				c.Name.Norm += "::" + strings.ToLower(t.text)
				continue
			}
			x = &Cast{Pos: Pos(x.Start()), X: x, Type: p.typeName(), Colons: true}
		case p.isOp("["):
			p.i++
			i := p.expr()
			p.expectOp("]")
			x = &Index{Pos: Pos(x.Start()), X: x, Index: i}
		default:
			return x
		}
	}
}

// noParenFuncs are the SQL-standard functions written without parentheses.
var noParenFuncs = map[string]bool{
	"current_date": true, "current_time": true, "current_timestamp": true,
	"localtime": true, "localtimestamp": true, "current_user": true,
	"session_user": true, "current_catalog": true, "current_schema": true,
}

func (p *parser) primary() Expr {
	t := p.peek()
	pos := Pos(t.pos)
	switch t.kind {
	case tNumber:
		p.i++
		k := LitInteger
		if strings.ContainsAny(t.text, ".eE") {
			k = LitDecimal
		}
		return &Literal{Pos: pos, Kind: k, Value: t.text}
	case tString:
		p.i++
		return &Literal{Pos: pos, Kind: LitString, Value: t.text}
	case tDuration:
		p.i++
		return p.duration(*t)
	case tParam:
		p.i++
		if t.text == "?" {
			p.nquest++
			return &Param{Pos: pos, Index: p.nquest}
		}
		n, err := strconv.Atoi(t.text[1:])
		if err != nil || n < 1 || n > math.MaxInt32 {
			p.fail(t.pos, "parameter number out of range: "+t.text)
		}
		return &Param{Pos: pos, Index: n}
	case tOp:
		if t.text == "(" {
			if p.isQueryStart(1) {
				p.i++
				q := p.query()
				p.expectOp(")")
				return &Subquery{Pos: pos, Query: q}
			}
			if l := p.lambda(); l != nil {
				return l
			}
			p.i++
			e := p.expr()
			p.expectOp(")")
			return e
		}
		p.unexpected("expression")
	case tQIdent:
		return p.nameExpr()
	case tIdent:
		return p.keywordExpr()
	}
	p.unexpected("expression")
	return nil
}

// keywordExpr handles a primary starting with an unquoted word: keywords
// with their own syntax first, then names, calls and lambdas.
func (p *parser) keywordExpr() Expr {
	t := p.peek()
	pos := Pos(t.pos)
	next := p.peekAt(1)
	lower := strings.ToLower(t.text)
	switch lower {
	case "null":
		p.i++
		return &Literal{Pos: pos, Kind: LitNull}
	case "true", "false":
		p.i++
		return &Literal{Pos: pos, Kind: LitBool, Value: lower}
	case "case":
		return p.caseExpr()
	case "cast", "try_cast":
		p.i++
		p.expectOp("(")
		x := p.expr()
		p.expectKw("as")
		typ := p.typeName()
		p.expectOp(")")
		return &Cast{Pos: pos, X: x, Type: typ, Try: lower == "try_cast"}
	case "extract":
		p.i++
		p.expectOp("(")
		f := p.peek()
		if f.kind != tIdent && f.kind != tString && f.kind != tQIdent {
			p.unexpected("field name")
		}
		p.i++
		p.expectKw("from")
		x := p.expr()
		p.expectOp(")")
		return &Extract{Pos: pos, Field: strings.ToLower(f.text), X: x}
	case "exists":
		p.i++
		p.expectOp("(")
		q := p.query()
		p.expectOp(")")
		return &Exists{Pos: pos, Query: q}
	case "timestamp", "date", "time":
		if next.kind == tString {
			p.i += 2
			k := map[string]LiteralKind{"timestamp": LitTimestamp, "date": LitDate, "time": LitTime}[lower]
			return &Literal{Pos: pos, Kind: k, Value: next.text}
		}
	case "interval":
		if next.kind == tString {
			p.i += 2
			iv := &Interval{Pos: pos, Value: next.text}
			if u := intervalUnit(p.peek()); u != "" {
				p.i++
				iv.Unit = u
				if p.isKw("to") {
					if u2 := intervalUnit(p.peekAt(1)); u2 != "" {
						p.i += 2
						iv.ToUnit = u2
					}
				}
			}
			return iv
		}
	case "array":
		if isOp(next, "[") {
			p.i += 2
			a := &Array{Pos: pos}
			if !p.isOp("]") {
				a.Elems = p.exprList()
			}
			p.expectOp("]")
			return a
		}
	case "left", "right":
		// Reserved for joins, but also string functions.
		if isOp(next, "(") {
			p.i++
			return p.funcCall(newIdent(*t))
		}
	}
	if noParenFuncs[lower] {
		p.i++
		if isOp(next, "(") {
			return p.funcCall(newIdent(*t))
		}
		return &Func{Pos: pos, Name: newIdent(*t), NoParens: true}
	}
	if isReserved(t.text) {
		p.unexpected("expression")
	}
	return p.nameExpr()
}

// intervalUnit returns the canonical unit if t is an interval unit keyword.
func intervalUnit(t *token) string {
	if t.kind != tIdent {
		return ""
	}
	switch u := strings.ToUpper(t.text); u {
	case "YEAR", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND", "MILLISECOND":
		return u
	case "YEARS", "MONTHS", "WEEKS", "DAYS", "HOURS", "MINUTES", "SECONDS", "MILLISECONDS":
		return u[:len(u)-1]
	}
	return ""
}

// nameExpr parses a column reference, a function call or a one-parameter
// lambda starting at a name.
func (p *parser) nameExpr() Expr {
	t := p.peek()
	if isOp(p.peekAt(1), "->") {
		return p.lambda()
	}
	if isOp(p.peekAt(1), "(") {
		p.i++
		return p.funcCall(newIdent(*t))
	}
	qual, name := p.qualifiedName("column name")
	return &ColumnRef{Pos: Pos(t.pos), Qualifier: qual, Name: name}
}

// lambda parses x -> body or (a, b) -> body, or returns nil (consuming
// nothing) if the tokens do not form a lambda head.
func (p *parser) lambda() Expr {
	t := p.peek()
	var params []Ident
	n := 0
	if isName(t) {
		params = append(params, newIdent(*t))
		n = 1
	} else if isOp(t, "(") {
		n = 1
		for {
			it := p.peekAt(n)
			if !isName(it) {
				return nil
			}
			params = append(params, newIdent(*it))
			n++
			if isOp(p.peekAt(n), ",") {
				n++
				continue
			}
			if !isOp(p.peekAt(n), ")") {
				return nil
			}
			n++
			break
		}
	}
	if !isOp(p.peekAt(n), "->") {
		return nil
	}
	p.i += n + 1
	p.enter()
	defer p.leave()
	return &Lambda{Pos: Pos(t.pos), Params: params, Body: p.expr()}
}

// funcCall parses the parenthesised part of a call to name, then FILTER and
// OVER.
func (p *parser) funcCall(name Ident) *Func {
	p.enter()
	defer p.leave()
	f := &Func{Pos: name.Pos, Name: name}
	p.expectOp("(")
	switch {
	case p.isOp("*") && isOp(p.peekAt(1), ")"):
		p.i++
		f.Star = true
	case p.isOp(")"):
	default:
		if p.acceptKw("distinct") {
			f.Distinct = true
		} else {
			p.acceptKw("all")
		}
		for {
			a := p.peek()
			if isKw(a, "select") || isKw(a, "with") {
				// A table function's input, written without the
				// parentheses of a scalar subquery: anomalies(SELECT …).
				f.Args = append(f.Args, &Subquery{Pos: Pos(a.pos), Query: p.query()})
			} else if isName(a) && isOp(p.peekAt(1), "=>") {
				p.i += 2
				f.Args = append(f.Args, &NamedArg{Pos: Pos(a.pos), Name: newIdent(*a), Value: p.expr()})
			} else {
				f.Args = append(f.Args, p.expr())
			}
			if !p.acceptOp(",") {
				break
			}
		}
	}
	p.expectOp(")")
	if p.isKw("filter") && isOp(p.peekAt(1), "(") && isKw(p.peekAt(2), "where") {
		p.i += 3
		f.Filter = p.expr()
		p.expectOp(")")
	}
	if p.isKw("over") && isOp(p.peekAt(1), "(") {
		f.Over = p.window()
	}
	return f
}

func (p *parser) window() *Window {
	p.i++ // OVER
	w := &Window{Pos: Pos(p.next().pos)}
	if p.isKw("partition") {
		p.i++
		p.expectKw("by")
		w.PartitionBy = p.exprList()
	}
	if p.isKw("order") {
		p.i++
		p.expectKw("by")
		w.OrderBy = p.orderItems()
	}
	var unit FrameUnit
	switch {
	case p.acceptKw("rows"):
		unit = FrameRows
	case p.acceptKw("range"):
		unit = FrameRange
	case p.acceptKw("groups"):
		unit = FrameGroups
	default:
		if !p.isOp(")") {
			p.unexpected("PARTITION BY", "ORDER BY", "ROWS", "RANGE", `")"`)
		}
		p.i++
		return w
	}
	fr := &Frame{Unit: unit}
	if p.acceptKw("between") {
		fr.Between = true
		fr.Start = p.frameBound()
		p.expectKw("and")
		fr.End = p.frameBound()
	} else {
		fr.Start = p.frameBound()
		fr.End = FrameBound{Kind: CurrentRow}
	}
	w.Frame = fr
	p.expectOp(")")
	return w
}

func (p *parser) frameBound() FrameBound {
	switch {
	case p.acceptKw("unbounded"):
		if p.acceptKw("preceding") {
			return FrameBound{Kind: UnboundedPreceding}
		}
		if p.acceptKw("following") {
			return FrameBound{Kind: UnboundedFollowing}
		}
		p.unexpected("PRECEDING", "FOLLOWING")
	case p.isKw("current") && isKw(p.peekAt(1), "row"):
		p.i += 2
		return FrameBound{Kind: CurrentRow}
	}
	off := p.concat()
	if p.acceptKw("preceding") {
		return FrameBound{Kind: Preceding, Offset: off}
	}
	if p.acceptKw("following") {
		return FrameBound{Kind: Following, Offset: off}
	}
	p.unexpected("PRECEDING", "FOLLOWING")
	return FrameBound{}
}

func (p *parser) caseExpr() Expr {
	c := &Case{Pos: Pos(p.next().pos)}
	if !p.isKw("when") {
		c.Operand = p.expr()
	}
	for p.acceptKw("when") {
		cond := p.expr()
		p.expectKw("then")
		c.Whens = append(c.Whens, When{Cond: cond, Result: p.expr()})
	}
	if len(c.Whens) == 0 {
		p.unexpected("WHEN")
	}
	if p.acceptKw("else") {
		c.Else = p.expr()
	}
	if !p.acceptKw("end") {
		if c.Else == nil {
			p.unexpected("WHEN", "ELSE", "END")
		}
		p.unexpected("END")
	}
	return c
}

// duration converts a Timestream duration token.
func (p *parser) duration(t token) Expr {
	i := 0
	for i < len(t.text) && isDigit(t.text[i]) {
		i++
	}
	n, err := strconv.ParseInt(t.text[:i], 10, 64)
	unit := strings.ToLower(t.text[i:])
	var per time.Duration
	switch unit {
	case "ns", "nanosecond":
		per = time.Nanosecond
	case "us", "microsecond":
		per = time.Microsecond
	case "ms", "millisecond":
		per = time.Millisecond
	case "s", "second":
		per = time.Second
	case "m", "minute":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	case "d", "day":
		per = 24 * time.Hour
	}
	if err != nil || per == 0 || n > int64(math.MaxInt64/per) {
		p.fail(t.pos, "duration out of range: "+t.text)
	}
	return &Duration{Pos: Pos(t.pos), N: n, Unit: unit, D: time.Duration(n) * per}
}

// typeName parses a cast target type.
func (p *parser) typeName() Type {
	t := p.peek()
	if t.kind != tIdent && t.kind != tQIdent {
		p.unexpected("type name")
	}
	p.i++
	ty := Type{Pos: Pos(t.pos)}
	name := strings.ToLower(t.text)
	switch name {
	case "boolean", "bool":
		ty.Kind = TypeBoolean
	case "int", "integer", "smallint", "tinyint", "int2", "int4":
		ty.Kind = TypeInteger
	case "bigint", "int8":
		ty.Kind = TypeBigint
	case "double":
		ty.Kind = TypeDouble
		p.acceptKw("precision")
	case "real", "float", "float4", "float8":
		ty.Kind = TypeDouble
		p.optTypeArgs(1)
	case "decimal", "numeric", "dec":
		ty.Kind = TypeDouble
		p.optTypeArgs(2)
	case "varchar", "text", "char", "character", "string", "name", "bpchar":
		ty.Kind = TypeVarchar
		if (name == "character" || name == "char") && p.acceptKw("varying") {
			name = "varchar"
		}
		if args := p.optTypeArgs(1); len(args) == 1 {
			ty.Length = args[0]
		}
	case "timestamp", "timestamptz":
		ty.Kind = TypeTimestamp
		p.optTypeArgs(1)
		ty.WithTimeZone = name == "timestamptz" || p.timeZoneSuffix()
	case "time", "timetz":
		ty.Kind = TypeTime
		p.optTypeArgs(1)
		ty.WithTimeZone = name == "timetz" || p.timeZoneSuffix()
	case "date":
		ty.Kind = TypeDate
	case "interval":
		ty.Kind = TypeInterval
		// INTERVAL DAY TO SECOND and friends: the qualifier only
		// narrows the display; intervals here are one type.
		if intervalUnit(p.peek()) != "" {
			p.i++
			if p.isKw("to") && intervalUnit(p.peekAt(1)) != "" {
				p.i += 2
			}
		}
	default:
		p.fail(t.pos, "unknown type "+quoteText(t.text))
	}
	return ty
}

// timeZoneSuffix reads WITH TIME ZONE (true) or WITHOUT TIME ZONE (false).
func (p *parser) timeZoneSuffix() bool {
	with := p.isKw("with")
	if !with && !p.isKw("without") || !isKw(p.peekAt(1), "time") || !isKw(p.peekAt(2), "zone") {
		return false
	}
	p.i += 3
	return with
}

// optTypeArgs reads (n[, m]) after a type name, up to max numbers.
func (p *parser) optTypeArgs(max int) []int {
	if !p.isOp("(") {
		return nil
	}
	p.i++
	var args []int
	for {
		t := p.peek()
		if t.kind != tNumber || len(args) == max {
			p.unexpected("integer")
		}
		n, err := strconv.Atoi(t.text)
		if err != nil || n < 0 || n > 1<<20 {
			p.fail(t.pos, "invalid type argument "+t.text)
		}
		p.i++
		args = append(args, n)
		if !p.acceptOp(",") {
			break
		}
	}
	p.expectOp(")")
	return args
}

// reserved words cannot be bare identifiers or aliases; quote them to use
// them as names. The list is kept short on purpose: time, date, value,
// first, rows, … remain ordinary names.
var reserved = map[string]bool{
	"all": true, "and": true, "as": true, "asc": true, "between": true, "by": true, "case": true,
	"cast": true, "create": true, "cross": true, "current_date": true, "current_time": true,
	"current_timestamp": true, "current_user": true, "desc": true, "distinct": true, "else": true,
	"end": true, "except": true, "exists": true, "extract": true, "false": true, "fetch": true,
	"from": true, "full": true, "group": true, "having": true, "ilike": true, "in": true,
	"inner": true, "intersect": true, "is": true, "join": true, "lateral": true, "left": true,
	"like": true, "limit": true, "localtime": true, "localtimestamp": true, "natural": true,
	"not": true, "null": true, "offset": true, "on": true, "or": true, "order": true, "outer": true,
	"right": true, "select": true, "session_user": true, "then": true, "true": true,
	"try_cast": true, "union": true, "using": true, "when": true, "where": true, "window": true,
	"with": true,
}

func isReserved(word string) bool {
	if len(word) > len("current_timestamp") {
		return false
	}
	var buf [24]byte
	b := buf[:0]
	for i := 0; i < len(word); i++ {
		c := word[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return reserved[string(b)]
}
