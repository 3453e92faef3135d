package sql

import (
	"context"
	"strings"
)

// sessionKey is the context key of a wire session's settings.
type sessionKey struct{}

// WithSession returns a context whose queries read run-time settings
// through setting: current_setting(name), SHOW name, user, version() and
// the search_path that Grafana's catalog queries expand. setting takes a
// name in any case and reports whether it knows it. Settings it does not
// know fall back to PostgreSQL-like defaults (defaultSettings), so a
// query without a session (HTTP, CLI) sees a fresh PostgreSQL 16 session.
//
// The PostgreSQL front door passes its session's Setting method, so that
// SET search_path and the like take effect in current_setting.
func WithSession(ctx context.Context, setting func(name string) (string, bool)) context.Context {
	return context.WithValue(ctx, sessionKey{}, setting)
}

// defaultSettings answer current_setting without a session (keys are lower
// case). They match what the PostgreSQL front door starts a session with.
var defaultSettings = map[string]string{
	"server_version":                "16.0 (sluice)",
	"server_version_num":            "160000",
	"server_encoding":               "UTF8",
	"client_encoding":               "UTF8",
	"datestyle":                     "ISO, MDY",
	"intervalstyle":                 "postgres",
	"timezone":                      "UTC",
	"search_path":                   `"$user", public`,
	"standard_conforming_strings":   "on",
	"integer_datetimes":             "on",
	"application_name":              "",
	"session_authorization":         "sluice",
	"is_superuser":                  "off",
	"max_identifier_length":         "63",
	"extra_float_digits":            "1",
	"statement_timeout":             "0",
	"transaction_isolation":         "read committed",
	"default_transaction_isolation": "read committed",
	"transaction_read_only":         "off",
	"default_transaction_read_only": "off",
	"lc_messages":                   "C",
	"lc_monetary":                   "C",
	"lc_numeric":                    "C",
	"lc_time":                       "C",
}

// settingFunc returns the setting lookup for a query run under ctx: the
// session's value, else the default.
func settingFunc(ctx context.Context) func(string) (string, bool) {
	sess, _ := ctx.Value(sessionKey{}).(func(string) (string, bool))
	return func(name string) (string, bool) {
		if sess != nil {
			if v, ok := sess(name); ok {
				return v, true
			}
		}
		v, ok := defaultSettings[strings.ToLower(name)]
		return v, ok
	}
}
