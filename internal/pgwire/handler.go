package pgwire

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// Handler runs SQL for the connections of a Server. It is the SQL engine's
// side of the seam; pgwire declares it because pgwire is its consumer.
//
// Implementations must be safe for concurrent use: every connection calls
// them from its own goroutine. A call for one connection never overlaps
// another call for the same connection (a Session is used by one statement
// at a time), except that Rows of a suspended portal may stay open while
// other statements run on the same connection.
//
// pgwire answers these statements itself and never passes them on:
// transaction control (BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK,
// ABORT, SAVEPOINT, RELEASE), SET, RESET, DISCARD, DEALLOCATE, and SHOW of a
// setting it knows (SHOW server_version, SHOW TimeZone, SHOW ALL; see
// Session.Setting). Every other statement, including SHOW TABLES and the
// like, reaches the Handler one statement at a time: a simple-protocol
// query string with several statements is split first.
type Handler interface {
	// Query runs one statement. params holds the values of $1, $2, ... in
	// order (see Param). It returns either rows (the statement produced a
	// result set, even an empty one; CommandComplete will say "SELECT n")
	// or nil rows and a command tag such as "CREATE TABLE" for statements
	// without a result set. With rows, a tag of "" or "SELECT" becomes
	// "SELECT n" (what Grafana requires to keep the rows); any other tag is
	// sent as given. pgwire closes the rows it is given.
	//
	// ctx is cancelled when the client sends a CancelRequest, when the
	// session's statement_timeout passes and when the server shuts down;
	// Query and Rows.Next should return promptly (with ctx's error or an
	// *Error) once it is.
	//
	// Errors: return an *Error (or wrap one) to choose the SQLSTATE and
	// error position; any other error is reported as XX000 internal_error,
	// or as 57014 query_canceled if ctx was cancelled.
	Query(ctx context.Context, s *Session, sql string, params []Param) (Rows, string, error)

	// Describe reports, without running it if it can, the parameter types
	// and result columns of one statement, for the extended protocol's
	// Describe (pgx prepares every statement this way before executing it).
	//
	// paramTypes holds the types the client declared in Parse, TypeUnknown
	// where it declared none; it may be shorter than the number of
	// parameters the statement uses. The returned params resolve them
	// (e.g. $1 compared with a TIMESTAMP column is TypeTimestamp); a
	// parameter left TypeUnknown is announced to the client as "unspecified"
	// (OID 0) and its value arrives as text (Param.Value is a string).
	// Returning fewer params than the statement uses is allowed; pgwire
	// counts the $n itself and pads with TypeUnknown.
	//
	// cols must equal what Query's Rows.Columns will return for the same
	// statement, because clients choose binary or text formats per column
	// from it. A nil cols means the statement returns no rows.
	Describe(ctx context.Context, s *Session, sql string, paramTypes []Type) (params []Type, cols []Column, err error)
}

// Rows is a result set, read one batch at a time.
//
// Columns is called once before the first Next and must not change. Next
// returns the next batch, or nil and nil at the end; its Cols correspond by
// position to Columns and hold the vectors described at Type (an empty batch
// is allowed and skipped). A batch returned by Next is only read until the
// following call to Next or Close, so an implementation may reuse it.
// Close is called exactly once, also after an error or a cancel.
type Rows interface {
	Columns() []Column
	Next(ctx context.Context) (*columnar.Batch, error)
	Close() error
}

// Column describes one result column.
type Column struct {
	Name string
	Type Type
}

// Type is the type of a result column or a parameter as it goes over the
// wire. It refines columnar.Type with the PostgreSQL types that have no
// columnar type of their own (timestamptz, date, interval); each says which
// slice of a columnar.Column holds its values.
type Type uint8

const (
	// TypeUnknown is a parameter whose type nobody resolved: it is sent as
	// OID 0 in ParameterDescription and its value is passed as text. It is
	// not a valid result column type.
	TypeUnknown     Type = iota
	TypeBool             // bool (OID 16); Column.Bools
	TypeInt64            // int8 (OID 20); Column.Ints
	TypeFloat64          // float8 (OID 701); Column.Floats
	TypeText             // text (OID 25); Column.Strs
	TypeTimestamp        // timestamp (OID 1114); Column.Ints, ns since 1970 UTC (sent as µs, truncated)
	TypeTimestampTZ      // timestamptz (OID 1184); Column.Ints, ns since 1970 UTC; text shown in the session's TimeZone
	TypeDate             // date (OID 1082); Column.Ints, ns since 1970 UTC, floored to the day
	TypeInterval         // interval (OID 1186); Column.Ints, a duration in ns (sent as days + µs)
	numTypes
)

// PostgreSQL type OIDs used on the wire.
const (
	OIDBool        = 16
	OIDInt8        = 20
	OIDInt2        = 21
	OIDInt4        = 23
	OIDText        = 25
	OIDFloat4      = 700
	OIDFloat8      = 701
	OIDUnknown     = 705
	OIDBPChar      = 1042
	OIDVarchar     = 1043
	OIDDate        = 1082
	OIDTimestamp   = 1114
	OIDTimestampTZ = 1184
	OIDInterval    = 1186
	OIDName        = 19
)

var typeInfo = [numTypes]struct {
	name string
	oid  uint32
	size int16
}{
	TypeUnknown:     {"unknown", 0, -1},
	TypeBool:        {"boolean", OIDBool, 1},
	TypeInt64:       {"bigint", OIDInt8, 8},
	TypeFloat64:     {"double precision", OIDFloat8, 8},
	TypeText:        {"text", OIDText, -1},
	TypeTimestamp:   {"timestamp without time zone", OIDTimestamp, 8},
	TypeTimestampTZ: {"timestamp with time zone", OIDTimestampTZ, 8},
	TypeDate:        {"date", OIDDate, 4},
	TypeInterval:    {"interval", OIDInterval, 16},
}

// String returns the PostgreSQL name of the type.
func (t Type) String() string {
	if t < numTypes {
		return typeInfo[t].name
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// OID returns the PostgreSQL type OID (0 for TypeUnknown).
func (t Type) OID() uint32 {
	if t < numTypes {
		return typeInfo[t].oid
	}
	return 0
}

// Columnar returns the columnar type whose slice holds values of t (Bool,
// Int64, Float64 or String); columns of a result batch are created with it.
func (t Type) Columnar() columnar.Type {
	switch t {
	case TypeBool:
		return columnar.Bool
	case TypeInt64, TypeDate, TypeInterval:
		return columnar.Int64
	case TypeTimestamp, TypeTimestampTZ:
		return columnar.Timestamp
	case TypeFloat64:
		return columnar.Float64
	case TypeText:
		return columnar.String
	}
	return columnar.Unknown
}

// TypeOf maps a columnar type to its wire type (VARCHAR → text, TIMESTAMP →
// timestamp without time zone, as Timestream's timestamps carry no zone).
func TypeOf(t columnar.Type) Type {
	switch t {
	case columnar.Bool:
		return TypeBool
	case columnar.Int64:
		return TypeInt64
	case columnar.Float64:
		return TypeFloat64
	case columnar.String:
		return TypeText
	case columnar.Timestamp:
		return TypeTimestamp
	case columnar.Date:
		return TypeDate // the handler sends nanoseconds (columnar keeps days)
	case columnar.Interval:
		return TypeInterval
	}
	return TypeUnknown
}

// typeForOID maps a parameter OID declared by a client to a Type. Narrower
// integers and floats widen; character types become text; an OID pgwire
// does not know is treated as unknown (its value passed as text).
func typeForOID(oid uint32) Type {
	switch oid {
	case OIDBool:
		return TypeBool
	case OIDInt2, OIDInt4, OIDInt8:
		return TypeInt64
	case OIDFloat4, OIDFloat8:
		return TypeFloat64
	case OIDText, OIDVarchar, OIDBPChar, OIDName:
		return TypeText
	case OIDTimestamp:
		return TypeTimestamp
	case OIDTimestampTZ:
		return TypeTimestampTZ
	case OIDDate:
		return TypeDate
	case OIDInterval:
		return TypeInterval
	}
	return TypeUnknown
}

// Param is the value of one statement parameter ($n), decoded from the
// client's text or binary form according to its type. Value is nil for
// NULL, otherwise, by Type: bool; int64; float64; string (TypeText and
// TypeUnknown: the text as sent); int64 ns since 1970 UTC (TypeTimestamp,
// TypeTimestampTZ, TypeDate); int64 ns (TypeInterval). These are the
// representations columnar.Column holds, so an engine can turn a Param into
// a constant vector directly.
type Param struct {
	Type  Type
	Value any
}

// Error is an error with a SQLSTATE, as a Handler returns it to choose what
// the client sees. Position, if not 0, is the 1-based character (not byte)
// offset in the statement text given to the Handler; pgwire shifts it to the
// client's whole query string.
type Error struct {
	Code     string // SQLSTATE, e.g. CodeSyntaxError; "" means XX000
	Message  string
	Detail   string
	Hint     string
	Position int
}

func (e *Error) Error() string {
	if e.Position > 0 {
		return fmt.Sprintf("%s (SQLSTATE %s) at character %d", e.Message, e.Code, e.Position)
	}
	return fmt.Sprintf("%s (SQLSTATE %s)", e.Message, e.Code)
}

// SQLSTATE codes pgwire uses and a Handler is likely to need.
const (
	CodeSyntaxError           = "42601"
	CodeUndefinedTable        = "42P01"
	CodeUndefinedColumn       = "42703"
	CodeUndefinedFunction     = "42883"
	CodeUndefinedObject       = "42704"
	CodeDatatypeMismatch      = "42804"
	CodeDataException         = "22000"
	CodeDivisionByZero        = "22012"
	CodeInvalidTextRep        = "22P02"
	CodeInvalidBinaryRep      = "22P03"
	CodeDatetimeOverflow      = "22008"
	CodeInvalidParameterValue = "22023"
	CodeNumericOutOfRange     = "22003"
	CodeQueryCanceled         = "57014"
	CodeAdminShutdown         = "57P01"
	CodeTooManyConnections    = "53300"
	CodeOutOfMemory           = "53200"
	CodeProgramLimitExceeded  = "54000"
	CodeInternal              = "XX000"
	CodeFeatureNotSupported   = "0A000"
	CodeProtocolViolation     = "08P01"
	CodeInvalidPassword       = "28P01"
	CodeInvalidAuthorization  = "28000"
	CodeInFailedTransaction   = "25P02"
	CodeInvalidStatementName  = "26000"
	CodeInvalidCursorName     = "34000"
)

// Session is the state of one client connection. Its settings are guarded
// by a mutex, so a Handler may read them from any goroutine.
type Session struct {
	// Fixed at startup; read-only afterwards.
	User       string
	Database   string
	ProcessID  uint32 // the BackendKeyData process id
	RemoteAddr string

	mu       sync.Mutex
	settings map[string]string // lower-case name → value
	loc      *time.Location
}

func newSession(user, db string, pid uint32, remote string, serverVersion string) *Session {
	s := &Session{User: user, Database: db, ProcessID: pid, RemoteAddr: remote, settings: map[string]string{}, loc: time.UTC}
	for _, d := range settingDefs {
		if d.def != "" {
			s.settings[d.key] = d.def
		}
	}
	s.settings["server_version"] = serverVersion
	s.settings["server_version_num"] = versionNum(serverVersion)
	s.settings["session_authorization"] = user
	return s
}

// Setting returns the current value of a run-time setting by name (any
// case), as SHOW prints it: e.g. server_version, server_version_num,
// TimeZone, DateStyle, search_path, application_name, statement_timeout,
// and any custom setting a client SET. An engine answers
// current_setting(name) with it.
func (s *Session) Setting(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.settings[strings.ToLower(name)]
	return v, ok
}

// Location is the session's TimeZone, used for timestamptz text.
func (s *Session) Location() *time.Location {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loc
}

func (s *Session) set(key, value string) {
	s.mu.Lock()
	s.settings[key] = value
	s.mu.Unlock()
}

// versionNum turns "16.2 (sluice)" into "160002", as PostgreSQL 10+ does.
func versionNum(v string) string {
	major, minor := 0, 0
	i := 0
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		major = major*10 + int(v[i]-'0')
	}
	if i < len(v) && v[i] == '.' {
		for i++; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
			minor = minor*10 + int(v[i]-'0')
		}
	}
	return fmt.Sprintf("%d", major*10000+minor)
}
