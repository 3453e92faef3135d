package parse

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a syntax error with its position in the SQL text.
type Error struct {
	Line, Col int // 1-based; Col counts characters, not bytes
	Offset    int // byte offset into the SQL text
	Msg       string
	// Expected lists what would have been accepted at Offset, when known
	// (keywords upper-case, operators quoted). Msg already mentions them.
	Expected []string
}

// Error formats the error as "syntax error at line L, column C: msg".
func (e *Error) Error() string {
	return "syntax error at line " + strconv.Itoa(e.Line) + ", column " + strconv.Itoa(e.Col) + ": " + e.Msg
}

// Position converts a byte offset in sql (such as a node's Pos) to a 1-based
// line and column, the column counted in characters. Later stages use it to
// point their own errors at the SQL text.
func Position(sql string, offset int) (line, col int) {
	if offset > len(sql) {
		offset = len(sql)
	}
	if offset < 0 {
		offset = 0
	}
	before := sql[:offset]
	line = 1 + strings.Count(before, "\n")
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, 1 + utf8.RuneCountInString(before)
}

func newError(sql string, offset int, msg string, expected []string) *Error {
	line, col := Position(sql, offset)
	return &Error{Line: line, Col: col, Offset: offset, Msg: msg, Expected: expected}
}

// describe names a token for "found …" in messages.
func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tIdent:
		if isReserved(t.text) {
			return strings.ToUpper(t.text)
		}
		return "identifier " + quoteText(t.text)
	case tQIdent:
		return "quoted identifier " + quoteText(t.text)
	case tNumber:
		return "number " + t.text
	case tString:
		return "string '" + strings.Trim(quoteText(t.text), `"`) + "'"
	case tDuration:
		return "duration " + t.text
	case tParam:
		return "parameter " + t.text
	}
	return `"` + t.text + `"`
}

// joinExpected renders ["FROM", "WHERE", `","`] as `FROM, WHERE or ","`.
func joinExpected(exp []string) string {
	switch len(exp) {
	case 0:
		return ""
	case 1:
		return exp[0]
	}
	return strings.Join(exp[:len(exp)-1], ", ") + " or " + exp[len(exp)-1]
}
