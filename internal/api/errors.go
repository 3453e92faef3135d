package api

import (
	"errors"
	"net/http"

	"github.com/sluice-dev/sluice/internal/tsdb"
)

// apiError is one row of the error table: a stable code and its status.
type apiError struct {
	code   string
	status int
}

// The error table. Codes are part of the API contract.
var (
	errBadRequest     = apiError{"bad_request", http.StatusBadRequest}
	errInvalid        = apiError{"invalid_argument", http.StatusBadRequest}
	errNotFound       = apiError{"not_found", http.StatusNotFound}
	errConflict       = apiError{"already_exists", http.StatusConflict}
	errTooLarge       = apiError{"too_large", http.StatusRequestEntityTooLarge}
	errInternal       = apiError{"internal", http.StatusInternalServerError}
	errUnavailable    = apiError{"unavailable", http.StatusServiceUnavailable}
	errNotImplemented = apiError{"not_implemented", http.StatusNotImplemented}
)

// writeError writes {"error": {"code", "message"}} with the code's status.
func writeError(w http.ResponseWriter, e apiError, msg string) {
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": msg}})
}

// writeStoreError maps a tsdb error to the table.
func writeStoreError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, tsdb.ErrNotFound):
		writeError(w, errNotFound, err.Error())
	case errors.Is(err, tsdb.ErrExists):
		writeError(w, errConflict, err.Error())
	case errors.Is(err, tsdb.ErrInvalid):
		writeError(w, errInvalid, err.Error())
	case errors.Is(err, tsdb.ErrClosed):
		writeError(w, errUnavailable, err.Error())
	default:
		writeError(w, errInternal, err.Error())
	}
}
