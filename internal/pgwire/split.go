package pgwire

// This file holds the small SQL scanner pgwire needs without an SQL parser:
// splitting a simple-protocol query string into statements, counting $n
// parameters, and reading the words of the statements pgwire answers itself
// (SET, SHOW, BEGIN, ...). It follows PostgreSQL's lexical rules for what
// cannot contain a statement boundary: '...' strings ('' escapes), E'...'
// strings (backslash escapes), "..." identifiers, -- and nested /* */
// comments, and $tag$...$tag$ dollar quotes.

// stmtSpan is one statement of a query string: sql[start:end] with
// surrounding whitespace and comments trimmed.
type stmtSpan struct{ start, end int }

// splitStatements appends the non-empty statements of sql to dst. A query
// that holds only whitespace, comments and semicolons has none (the client
// gets EmptyQueryResponse). Unterminated quotes or comments run to the end;
// the engine reports them.
func splitStatements(dst []stmtSpan, sql string) []stmtSpan {
	start := -1 // first significant byte of the current statement
	last := 0   // end of its last significant token
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ';':
			if start >= 0 {
				dst = append(dst, stmtSpan{start, last})
				start = -1
			}
			i++
			continue
		case isSpace(c):
			i++
			continue
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			i = skipLineComment(sql, i)
			continue
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			i = skipBlockComment(sql, i)
			continue
		}
		if start < 0 {
			start = i
		}
		i = skipToken(sql, i)
		last = i
	}
	if start >= 0 {
		dst = append(dst, stmtSpan{start, last})
	}
	return dst
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdentStart(c byte) bool {
	return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') || c == '$' }

func skipLineComment(sql string, i int) int {
	for i < len(sql) && sql[i] != '\n' {
		i++
	}
	return i
}

// skipBlockComment skips a /* */ comment starting at i; they nest.
func skipBlockComment(sql string, i int) int {
	depth := 0
	for i < len(sql) {
		switch {
		case sql[i] == '/' && i+1 < len(sql) && sql[i+1] == '*':
			depth++
			i += 2
		case sql[i] == '*' && i+1 < len(sql) && sql[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return i
}

// skipToken skips one significant token starting at sql[i] (which is not
// space, a comment start or ';') and returns the index after it.
func skipToken(sql string, i int) int {
	c := sql[i]
	switch {
	case c == '\'':
		return skipQuoted(sql, i+1, '\'', false)
	case c == '"':
		return skipQuoted(sql, i+1, '"', false)
	case (c == 'e' || c == 'E') && i+1 < len(sql) && sql[i+1] == '\'':
		return skipQuoted(sql, i+2, '\'', true)
	case c == '$':
		if tagEnd, ok := dollarTag(sql, i); ok {
			tag := sql[i:tagEnd]
			for j := tagEnd; j+len(tag) <= len(sql); j++ {
				if sql[j] == '$' && sql[j:j+len(tag)] == tag {
					return j + len(tag)
				}
			}
			return len(sql)
		}
		i++
		for i < len(sql) && sql[i] >= '0' && sql[i] <= '9' {
			i++
		}
		return i
	case isIdentStart(c):
		for i < len(sql) && isIdentChar(sql[i]) {
			i++
		}
		return i
	case c >= '0' && c <= '9':
		for i < len(sql) && (isIdentChar(sql[i]) || sql[i] == '.') {
			i++
		}
		return i
	}
	return i + 1
}

// skipQuoted skips to after the closing quote q; a doubled quote is an
// escaped one, and with backslash a backslash escapes the next byte.
func skipQuoted(sql string, i int, q byte, backslash bool) int {
	for i < len(sql) {
		switch sql[i] {
		case '\\':
			if backslash {
				i += 2
				continue
			}
		case q:
			if i+1 < len(sql) && sql[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(sql)
}

// dollarTag reports whether sql[i:] starts a dollar quote ($$ or $tag$) and
// returns the end of its opening tag.
func dollarTag(sql string, i int) (int, bool) {
	j := i + 1
	if j < len(sql) && sql[j] == '$' {
		return j + 1, true
	}
	if j >= len(sql) || !isIdentStart(sql[j]) {
		return 0, false
	}
	for j < len(sql) && isIdentChar(sql[j]) && sql[j] != '$' {
		j++
	}
	if j < len(sql) && sql[j] == '$' {
		return j + 1, true
	}
	return 0, false
}

// maxParam returns the highest $n used in sql outside quotes and comments.
func maxParam(sql string) int {
	n := 0
	forTokens(sql, func(tok string, _ int) bool {
		if len(tok) > 1 && tok[0] == '$' && tok[1] >= '0' && tok[1] <= '9' {
			v := 0
			for k := 1; k < len(tok) && v < 1<<20; k++ {
				v = v*10 + int(tok[k]-'0')
			}
			n = max(n, v)
		}
		return true
	})
	return n
}

// forTokens calls fn with each significant token of sql (quoted strings
// with their quotes; ';' included) and its byte offset, until fn returns
// false.
func forTokens(sql string, fn func(tok string, off int) bool) {
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case isSpace(c):
			i++
			continue
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			i = skipLineComment(sql, i)
			continue
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			i = skipBlockComment(sql, i)
			continue
		}
		j := skipToken(sql, i)
		if !fn(sql[i:j], i) {
			return
		}
		i = j
	}
}

// words returns up to n leading tokens of sql.
func words(sql string, n int) []string {
	var out []string
	forTokens(sql, func(tok string, _ int) bool {
		out = append(out, tok)
		return len(out) < n
	})
	return out
}

// runeOffset converts a byte offset in s to a count of characters.
func runeOffset(s string, byteOff int) int {
	n := 0
	for i := range s {
		if i >= byteOff {
			break
		}
		n++
	}
	return n
}
