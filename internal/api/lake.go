package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/sluice-dev/sluice/internal/lake"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
)

// LakeInferrer infers (and optionally creates) lake tables: the SQL
// engine (internal/sql.Engine.InferLakeTable).
type LakeInferrer interface {
	InferLakeTable(ctx context.Context, opts lake.InferOptions, create bool) (lake.TableDef, string, error)
}

// lakeInfer is POST /v1/lake/infer, the Glue crawler's job:
// {"location": "s3://bucket/events/", "database": "devices_data",
// "table": "smart_devices_events", "create": true} →
// {"ddl": "CREATE EXTERNAL TABLE …", "table": {…definition…}, "created": bool}.
// The querier set with SetQuerier must implement LakeInferrer.
func (s *Server) lakeInfer(w http.ResponseWriter, r *http.Request) {
	inf, ok := s.querier.(LakeInferrer)
	if !ok || s.querier == nil {
		writeError(w, errNotImplemented, "the lake is not enabled on this server")
		return
	}
	var req struct {
		Location string `json:"location"`
		Database string `json:"database"`
		Table    string `json:"table"`
		Create   bool   `json:"create"`
		MaxFiles int    `json:"max_files"`
		MaxRows  int    `json:"max_rows"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Location) == "" {
		writeError(w, errBadRequest, `"location" is empty`)
		return
	}
	if req.Create && (req.Database == "" || req.Table == "") {
		writeError(w, errBadRequest, `"create" needs "database" and "table"`)
		return
	}
	if req.Table == "" {
		req.Table = "inferred"
	}
	def, ddl, err := inf.InferLakeTable(r.Context(), lake.InferOptions{Location: req.Location, Database: req.Database, Table: req.Table,
		MaxFiles: req.MaxFiles, MaxRows: req.MaxRows}, req.Create)
	if err != nil {
		var qe *sluicesql.Error
		switch {
		case errors.As(err, &qe) && qe.Code == "42P07":
			writeError(w, errConflict, err.Error())
		case errors.As(err, &qe):
			writeError(w, errInvalid, err.Error())
		case errors.Is(err, lake.ErrNotFound):
			writeError(w, errNotFound, err.Error())
		default:
			writeError(w, errInvalid, err.Error())
		}
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ddl": ddl, "table": def, "created": req.Create})
}
