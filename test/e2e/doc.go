// Package e2e holds sluice's end-to-end tests: the whole server (in process
// through internal/app, or as the built binary in a child process) fed over
// HTTP and MQTT, read back through the store's Go API and the HTTP API.
//
//   - TestEndToEnd: simulated and hand-made events over HTTP (NDJSON) and
//     MQTT, with malformed events, invalid JSON, clocks an hour ahead, late
//     bulk deliveries and duplicate deliveries; every accepted event's
//     measures must be stored exactly once, skewed ones at their arrival
//     time and listed in sluice.clock_corrections, malformed ones in
//     sluice.dead_letters and the events-dlq stream.
//   - TestCrashDuringIngest: the binary is SIGKILLed during sustained
//     ingest and restarted on the same data directory; every event whose
//     request was answered 200 must be stored exactly once. The many-
//     iteration version runs with -tags soak.
//   - TestProcessorsShareConsumer: two servers consuming one stream of an
//     external NATS JetStream server as the same durable consumer; the union
//     of their stores holds each event exactly once.
//   - TestShutdownDuringIngest: graceful shutdowns while senders are busy
//     lose nothing acknowledged (TestGracefulShutdownSoak, -tags soak, also
//     fails when one leaves stream messages unacknowledged).
//
// TestSkewedEventsInOneRequest, TestSkewedEventDeliveredTwice and
// TestSecondServerOnSameDataDir showed bugs in other packages and now guard
// their fixes.
//
// The package has no non-test code: this file only documents it. Tests poll
// with bounds and generous timeouts instead of sleeping, so they hold on a
// loaded two-core machine; set SLUICE_TEST_LOG=1 to see the servers' logs and
// SLUICE_E2E_SEED to replay a crash test's kill moments.
package e2e
