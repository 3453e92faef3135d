// Package grafana proves that Grafana's built-in PostgreSQL data source
// works against sluice, without a Grafana: the tests start a real server
// (internal/app, PostgreSQL listener on a free port), write known telemetry,
// and then talk to it exactly as Grafana 12.4+ does (reference/grafana.md
// §1): pgx v5 through pgxpool with Grafana's connection string, the
// "-- ping" health check, every data and catalog query on the simple
// protocol read with PgConn().Exec(...).ReadAll() (keeping only results
// whose command tag is SELECT), and the schema API's parameterised queries
// on the extended protocol.
//
// What is checked:
//   - TestGrafanaDataSource: the version and TimescaleDB probes, the table
//     and column lists of the query builder (the search_path construct run
//     for real), the schema API and distinct-values queries, and realistic
//     dashboard queries with expanded macros, for column names, type OIDs,
//     ascending time and values against the written data.
//   - TestShippedDashboard: every query of deploy/grafana/dashboards/*.json
//     (panels and template variables), expanded as Grafana expands it, runs
//     and gives rows of the shape its panel needs.
//   - TestProvisioning: the provisioning files parse and point at the
//     dashboard folder and the data source the dashboards use.
//   - TestWireSession: with the wire session passed to the engine
//     (sluicesql.WithSession, as internal/app's handler should do), user
//     and server version come from the connection and SET search_path
//     changes Grafana's table list.
//   - TestMacroExpansion: the test's macro expander (macros_test.go, a
//     transcription of Grafana's macros.go) against Grafana's own examples.
//
// Nothing here is safe for concurrent use beyond what the tests do; there is
// no non-test code.
package grafana
