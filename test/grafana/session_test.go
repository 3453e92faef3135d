package grafana

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/pgwire"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
)

// sessionHandler is internal/app's pgHandler with the one change that
// hands the wire session to the engine (sluicesql.WithSession with
// Session.Setting), so that this test can show what that change gives
// before internal/app makes it.
type sessionHandler struct{ engine *sluicesql.Engine }

func (h sessionHandler) Query(ctx context.Context, s *pgwire.Session, sql string, params []pgwire.Param) (pgwire.Rows, string, error) {
	ctx = sluicesql.WithSession(ctx, s.Setting)
	args := make([]any, len(params))
	for i, p := range params {
		args[i] = p.Value
	}
	res, err := h.engine.Query(ctx, sql, args)
	if err != nil {
		var qe *sluicesql.Error
		if errors.As(err, &qe) {
			return nil, "", &pgwire.Error{Code: qe.Code, Message: qe.Msg}
		}
		return nil, "", err
	}
	if res.Rows == nil {
		return nil, res.Tag, nil
	}
	r := &batchRows{b: res.Rows}
	for _, c := range res.Columns {
		r.cols = append(r.cols, pgwire.Column{Name: c.Name, Type: pgwire.TypeOf(c.Type)})
	}
	return r, "", nil
}

func (h sessionHandler) Describe(ctx context.Context, s *pgwire.Session, sql string, paramTypes []pgwire.Type) ([]pgwire.Type, []pgwire.Column, error) {
	ctx = sluicesql.WithSession(ctx, s.Setting)
	cols, err := h.engine.Describe(ctx, sql, nil)
	if err != nil {
		return nil, nil, err
	}
	out := make([]pgwire.Column, len(cols))
	for i, c := range cols {
		out[i] = pgwire.Column{Name: c.Name, Type: pgwire.TypeOf(c.Type)}
	}
	return paramTypes, out, nil
}

type batchRows struct {
	cols []pgwire.Column
	b    *columnar.Batch
	done bool
}

func (r *batchRows) Columns() []pgwire.Column { return r.cols }
func (r *batchRows) Close() error             { return nil }
func (r *batchRows) Next(context.Context) (*columnar.Batch, error) {
	if r.done {
		return nil, nil
	}
	r.done = true
	return r.b, nil
}

// TestWireSession checks what the engine answers once the PostgreSQL front
// door passes its session: the connecting user, the server version the
// wire reports, and SET search_path taking effect in Grafana's table list.
func TestWireSession(t *testing.T) {
	f := start(t)
	srv, err := pgwire.NewServer(sessionHandler{engine: f.app.Engine()}, pgwire.Options{Addr: "127.0.0.1:0"}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://grafana@%s/iot?sslmode=disable", srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	g := &fixture{conn: conn}
	row := func(sql string) string {
		fr, err := g.query(ctx, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return fmt.Sprint(fr.rows)
	}
	if got := row(`SELECT user, current_setting('server_version_num')::int/100 AS version`); got != "[[grafana 1600]]" {
		t.Errorf("user, version: %s", got)
	}
	if got := row(tableListQuery); got != "[[iot.telemetry] [sluice.anomalies] [sluice.clock_corrections] [sluice.dead_letters]]" {
		t.Errorf("table list as grafana: %s", got)
	}
	if got := row(`SET search_path TO iot, public; ` + tableListQuery); got != "[[telemetry] [sluice.anomalies] [sluice.clock_corrections] [sluice.dead_letters]]" {
		t.Errorf("table list with iot on the search path: %s", got)
	}
	if got := row(columnListQuery("telemetry")); got != `[["time" timestamp without time zone] [measure_name text] ["DeviceID" text] ["measure_value::double" double precision]]` {
		t.Errorf("column list of an unqualified table: %s", got)
	}
}
