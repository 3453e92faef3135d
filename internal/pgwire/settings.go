package pgwire

import (
	"strconv"
	"strings"
	"time"
)

// settingDef describes a run-time setting pgwire knows. Reported settings
// are sent as ParameterStatus at startup and whenever they change, as
// PostgreSQL does for its GUC_REPORT settings.
type settingDef struct {
	key      string // lower-case
	name     string // as SHOW prints the column name
	def      string
	report   bool
	readOnly bool
}

var settingDefs = []settingDef{
	{key: "application_name", name: "application_name", def: "", report: true},
	{key: "client_encoding", name: "client_encoding", def: "UTF8", report: true},
	{key: "datestyle", name: "DateStyle", def: "ISO, MDY", report: true},
	{key: "default_transaction_read_only", name: "default_transaction_read_only", def: "off", report: true},
	{key: "in_hot_standby", name: "in_hot_standby", def: "off", report: true, readOnly: true},
	{key: "integer_datetimes", name: "integer_datetimes", def: "on", report: true, readOnly: true},
	{key: "intervalstyle", name: "IntervalStyle", def: "postgres", report: true},
	{key: "is_superuser", name: "is_superuser", def: "off", report: true, readOnly: true},
	{key: "server_encoding", name: "server_encoding", def: "UTF8", report: true, readOnly: true},
	{key: "server_version", name: "server_version", report: true, readOnly: true},
	{key: "session_authorization", name: "session_authorization", report: true, readOnly: true},
	{key: "standard_conforming_strings", name: "standard_conforming_strings", def: "on", report: true},
	{key: "timezone", name: "TimeZone", def: "UTC", report: true},
	// Not reported.
	{key: "server_version_num", name: "server_version_num", readOnly: true},
	{key: "extra_float_digits", name: "extra_float_digits", def: "1"},
	{key: "search_path", name: "search_path", def: `"$user", public`},
	{key: "statement_timeout", name: "statement_timeout", def: "0"},
	{key: "lock_timeout", name: "lock_timeout", def: "0"},
	{key: "idle_in_transaction_session_timeout", name: "idle_in_transaction_session_timeout", def: "0"},
	{key: "client_min_messages", name: "client_min_messages", def: "notice"},
	{key: "max_identifier_length", name: "max_identifier_length", def: "63", readOnly: true},
	{key: "transaction_isolation", name: "transaction_isolation", def: "read committed"},
	{key: "transaction_read_only", name: "transaction_read_only", def: "off"},
	{key: "default_transaction_isolation", name: "default_transaction_isolation", def: "read committed"},
	{key: "lc_messages", name: "lc_messages", def: "C"},
	{key: "lc_monetary", name: "lc_monetary", def: "C"},
	{key: "lc_numeric", name: "lc_numeric", def: "C"},
	{key: "lc_time", name: "lc_time", def: "C"},
	{key: "bytea_output", name: "bytea_output", def: "hex"},
	{key: "jit", name: "jit", def: "off"},
}

func findSetting(key string) *settingDef {
	for i := range settingDefs {
		if settingDefs[i].key == key {
			return &settingDefs[i]
		}
	}
	return nil
}

// settingAliases maps SQL-standard spellings to setting names.
var settingAliases = map[string]string{
	"time zone":   "timezone",
	"names":       "client_encoding",
	"search path": "search_path",
}

// normalizeSetting validates value for the setting key and returns the
// form SHOW prints. Settings pgwire cannot honour other values of are
// limited to the values it can.
func normalizeSetting(key, value string) (string, *time.Location, error) {
	bad := func(msg string) error {
		return &Error{Code: CodeInvalidParameterValue, Message: `invalid value for parameter "` + key + `": "` + value + `"`, Detail: msg}
	}
	switch key {
	case "client_encoding":
		switch strings.ToUpper(strings.ReplaceAll(value, "-", "")) {
		case "UTF8", "UNICODE":
			return "UTF8", nil, nil
		}
		return "", nil, bad("sluice supports only UTF8.")
	case "datestyle":
		u := strings.ToUpper(value)
		order := "MDY"
		switch {
		case strings.Contains(u, "DMY") || strings.Contains(u, "EURO"):
			order = "DMY"
		case strings.Contains(u, "YMD"):
			order = "YMD"
		}
		if !strings.Contains(u, "ISO") && strings.TrimSpace(strings.Trim(u, "DMYEUROPANS, ")) != "" {
			return "", nil, bad("sluice supports only the ISO output style.")
		}
		return "ISO, " + order, nil, nil
	case "intervalstyle":
		if !strings.EqualFold(value, "postgres") {
			return "", nil, bad("sluice supports only IntervalStyle postgres.")
		}
		return "postgres", nil, nil
	case "standard_conforming_strings":
		if v, ok := parseBool(value); !ok || !v {
			return "", nil, bad("sluice supports only standard_conforming_strings on.")
		}
		return "on", nil, nil
	case "timezone":
		switch strings.ToUpper(value) {
		case "UTC", "GMT", "Z", "ZULU", "UCT", "ETC/UTC", "ETC/GMT", "LOCAL", "DEFAULT", "+00", "+00:00", "0":
			return "UTC", time.UTC, nil
		}
		loc, err := time.LoadLocation(value)
		if err != nil {
			return "", nil, bad("unknown time zone")
		}
		return value, loc, nil
	case "extra_float_digits":
		n, err := strconv.Atoi(value)
		if err != nil || n < -15 || n > 3 {
			return "", nil, bad("an integer from -15 to 3 is required.")
		}
		return strconv.Itoa(n), nil, nil
	case "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout":
		d, err := parseMillis(value)
		if err != nil {
			return "", nil, bad("a duration such as 500, '500ms', '5s' or '1min' is required.")
		}
		return formatMillis(d), nil, nil
	}
	return value, nil, nil
}

// parseMillis reads a PostgreSQL time setting: a bare number is ms; units
// us, ms, s, min, h, d may follow.
func parseMillis(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.') {
		i++
	}
	n, err := strconv.ParseFloat(v[:i], 64)
	if err != nil || n < 0 {
		return 0, strconv.ErrSyntax
	}
	unit := time.Millisecond
	switch strings.ToLower(strings.TrimSpace(v[i:])) {
	case "", "ms":
	case "us":
		unit = time.Microsecond
	case "s":
		unit = time.Second
	case "min":
		unit = time.Minute
	case "h":
		unit = time.Hour
	case "d":
		unit = 24 * time.Hour
	default:
		return 0, strconv.ErrSyntax
	}
	if n*float64(unit) > float64(1<<62) {
		return 0, strconv.ErrRange
	}
	return time.Duration(n * float64(unit)), nil
}

// formatMillis prints a duration as SHOW does: "0", "500ms", "5s", "2min".
func formatMillis(d time.Duration) string {
	ms := d.Milliseconds()
	switch {
	case ms == 0:
		return "0"
	case ms%(24*3600*1000) == 0:
		return strconv.FormatInt(ms/(24*3600*1000), 10) + "d"
	case ms%(3600*1000) == 0:
		return strconv.FormatInt(ms/(3600*1000), 10) + "h"
	case ms%(60*1000) == 0:
		return strconv.FormatInt(ms/(60*1000), 10) + "min"
	case ms%1000 == 0:
		return strconv.FormatInt(ms/1000, 10) + "s"
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// builtinKind says which statement pgwire answers itself.
type builtinKind uint8

const (
	notBuiltin builtinKind = iota
	bBegin
	bCommit
	bRollback
	bSavepoint
	bRelease
	bRollbackTo
	bSet
	bReset
	bShow
	bDiscard
	bDeallocate
)

// builtin is a parsed statement pgwire answers itself.
type builtin struct {
	kind  builtinKind
	key   string // setting (lower case) for SET/RESET/SHOW; "all" for RESET ALL / SHOW ALL; statement name for DEALLOCATE
	value string // for SET
	tag   string
}

// parseBuiltin recognises the statements pgwire answers itself. It returns
// nil for everything else, which goes to the Handler (SHOW of an unknown
// name included: SHOW TABLES is the engine's).
func parseBuiltin(sql string, sess *Session) (*builtin, error) {
	var toks []string
	forTokens(sql, func(tok string, _ int) bool {
		toks = append(toks, tok)
		return len(toks) < 64
	})
	if len(toks) == 0 {
		return nil, nil
	}
	kw := func(i int) string {
		if i < len(toks) {
			return strings.ToLower(toks[i])
		}
		return ""
	}
	switch kw(0) {
	case "begin", "start":
		if kw(0) == "start" && kw(1) != "transaction" {
			return nil, nil
		}
		return &builtin{kind: bBegin, tag: "BEGIN"}, nil
	case "commit", "end":
		if kw(1) == "prepared" {
			return nil, nil
		}
		return &builtin{kind: bCommit, tag: "COMMIT"}, nil
	case "rollback", "abort":
		if kw(1) == "to" || kw(2) == "to" {
			return &builtin{kind: bRollbackTo, tag: "ROLLBACK"}, nil
		}
		if kw(1) == "prepared" {
			return nil, nil
		}
		return &builtin{kind: bRollback, tag: "ROLLBACK"}, nil
	case "savepoint":
		return &builtin{kind: bSavepoint, tag: "SAVEPOINT"}, nil
	case "release":
		return &builtin{kind: bRelease, tag: "RELEASE"}, nil
	case "discard":
		return &builtin{kind: bDiscard, tag: "DISCARD " + strings.ToUpper(kw(1))}, nil
	case "deallocate":
		i := 1
		if kw(i) == "prepare" {
			i++
		}
		return &builtin{kind: bDeallocate, key: unquoteIdent(toks, i), tag: "DEALLOCATE"}, nil
	case "reset":
		if len(toks) < 2 {
			return nil, &Error{Code: CodeSyntaxError, Message: "syntax error at end of input"}
		}
		key := settingKey(toks[1:])
		if key == "all" {
			return &builtin{kind: bReset, key: "all", tag: "RESET"}, nil
		}
		return &builtin{kind: bReset, key: key, tag: "RESET"}, nil
	case "show":
		if len(toks) < 2 {
			return nil, &Error{Code: CodeSyntaxError, Message: "syntax error at end of input"}
		}
		key := settingKey(toks[1:])
		if key == "transaction isolation level" {
			key = "transaction_isolation"
		}
		if key == "all" {
			return &builtin{kind: bShow, key: "all", tag: "SHOW"}, nil
		}
		if _, ok := sess.Setting(key); !ok {
			return nil, nil // SHOW TABLES, SHOW MEASURES, ...: the engine's
		}
		return &builtin{kind: bShow, key: key, tag: "SHOW"}, nil
	case "set":
		i := 1
		if kw(i) == "session" || kw(i) == "local" {
			if kw(i+1) == "characteristics" || kw(i) == "session" && kw(i+1) == "authorization" {
				return &builtin{kind: bSet, tag: "SET"}, nil // accepted and ignored
			}
			i++
		}
		if kw(i) == "transaction" || kw(i) == "constraints" || kw(i) == "role" {
			return &builtin{kind: bSet, tag: "SET"}, nil // accepted and ignored
		}
		var key string
		var rest []string
		switch {
		case kw(i) == "time" && kw(i+1) == "zone":
			key, rest = "timezone", toks[i+2:]
		case kw(i) == "names":
			key, rest = "client_encoding", toks[i+1:]
		default:
			if i >= len(toks) {
				return nil, &Error{Code: CodeSyntaxError, Message: "syntax error at end of input"}
			}
			key = strings.ToLower(unquoteIdent(toks, i))
			j := i + 1
			for j+1 < len(toks) && toks[j] == "." { // custom.setting
				key += "." + strings.ToLower(unquoteIdent(toks, j+1))
				j += 2
			}
			if kw(j) != "to" && kw(j) != "=" {
				return nil, &Error{Code: CodeSyntaxError, Message: `syntax error: SET ` + key + ` needs TO or =`}
			}
			rest = toks[j+1:]
		}
		if len(rest) == 0 {
			return nil, &Error{Code: CodeSyntaxError, Message: "syntax error at end of input"}
		}
		if len(rest) == 1 && strings.EqualFold(rest[0], "default") {
			return &builtin{kind: bReset, key: key, tag: "SET"}, nil
		}
		return &builtin{kind: bSet, key: key, value: settingValue(rest), tag: "SET"}, nil
	}
	return nil, nil
}

// settingKey joins the words naming a setting (SHOW time zone, SHOW
// "DateStyle", SHOW my.custom) into its lower-case key.
func settingKey(toks []string) string {
	var b strings.Builder
	for i := range toks {
		if toks[i] == ";" {
			break
		}
		t := unquoteIdent(toks, i)
		if t == "." {
			b.WriteString(".")
			continue
		}
		if b.Len() > 0 && !strings.HasSuffix(b.String(), ".") {
			b.WriteByte(' ')
		}
		b.WriteString(strings.ToLower(t))
	}
	k := b.String()
	if a, ok := settingAliases[k]; ok {
		return a
	}
	return k
}

func unquoteIdent(toks []string, i int) string {
	if i >= len(toks) {
		return ""
	}
	t := toks[i]
	if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
		return strings.ReplaceAll(t[1:len(t)-1], `""`, `"`)
	}
	return t
}

// settingValue turns the value tokens of SET into the stored text: quoted
// strings lose their quotes, lists are joined with ", " (search_path).
func settingValue(toks []string) string {
	var parts []string
	cur := ""
	for _, t := range toks {
		switch {
		case t == ";":
		case t == ",":
			parts = append(parts, cur)
			cur = ""
		case len(t) >= 2 && t[0] == '\'':
			cur += strings.ReplaceAll(t[1:len(t)-1], "''", "'")
		case len(t) >= 3 && (t[0] == 'e' || t[0] == 'E') && t[1] == '\'':
			cur += strings.ReplaceAll(strings.ReplaceAll(t[2:len(t)-1], "''", "'"), `\\`, `\`)
		default:
			cur += t
		}
	}
	return strings.Join(append(parts, cur), ", ")
}
