// Package parse is sluice's SQL front end: a lexer, a syntax tree, a
// recursive-descent parser and a printer for the query dialect.
//
// The dialect is Amazon Timestream's, which is Trino's: SELECT with CTEs,
// joins, set operations, window functions, CASE, CAST/TRY_CAST, Timestream
// duration literals (15m, 1h), bin()/ago() calls, and the column names
// measure_value::double etc. — which are names, not casts. On top of that it
// accepts the PostgreSQL forms Grafana's PostgreSQL data source sends: x::type
// casts, EXTRACT(epoch FROM x), ILIKE, array subscripts, functions in FROM,
// $1 parameters, SET/SHOW of session settings and several statements in one
// string. SHOW DATABASES/TABLES/MEASURES, DESCRIBE, EXPLAIN and Athena's
// CREATE EXTERNAL TABLE complete the statements.
//
// The parser only checks syntax. Names are not resolved, functions not
// looked up, and literals such as TIMESTAMP '…' or INTERVAL '1 hour' are
// kept as text for the planner to validate; every node carries its byte
// offset (Pos) so that later errors can point at the SQL with Position.
//
// Invariants: String on any statement prints SQL that parses back to a tree
// that prints identically (print → parse → print is a fixed point); Parse
// never panics, whatever the input, and reports errors as *Error with line,
// column and the tokens it expected.
//
// Concurrency: Parse, ParseOne and ParseExpr share no state and may be
// called from any number of goroutines. Trees are plain data; a tree must
// not be modified while another goroutine reads it.
package parse
