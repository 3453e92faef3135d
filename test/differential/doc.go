// Package differential checks sluice's SQL engine against a real
// PostgreSQL server: the tests start a PostgreSQL (initdb into a temporary
// directory, a private port on 127.0.0.1) and a sluice (internal/app), load
// the same data into both, run a few hundred queries written in the
// dialects' common subset through the PostgreSQL wire protocol (pgx, simple
// protocol) and compare the answers: same column count, same rows (in order
// where ORDER BY makes the order total, as multisets otherwise), numbers
// with a relative tolerance of 1e-9, timestamps to the microsecond, NULL
// equal only to NULL.
//
// The tests skip when PostgreSQL's server binaries are absent
// (Debian: apt-get install -y postgresql; binaries under
// /usr/lib/postgresql/<version>/bin).
//
// Queries whose answers differ for a known reason are listed with the
// reason (knownDiffs in queries_test.go) and reported as skipped sub-tests;
// the comparison itself is never loosened for them.
//
// There is no non-test code; nothing here is meant for concurrent use
// beyond what the tests do.
package differential
