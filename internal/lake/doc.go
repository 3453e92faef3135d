// Package lake is sluice's raw data lake: the writer that delivers the
// original events of the stream to time-partitioned files, as Firehose
// delivers a Kinesis stream to S3, and the file-backed tables (JSON Lines,
// CSV, Parquet; table*.go) through which the SQL engine reads lake and
// reference data.
//
// # Writer
//
// A Writer (writer.go) is fed stream messages by a consumer loop (the
// durable consumer "lake" in internal/pipeline). It writes every event of
// a message exactly as the device sent it, one event per line (JSON
// Lines, optionally gzipped), or as Parquet rows with an inferred schema
// that grows (parquet.go). No clock correction: the lake keeps what was
// sent. An event that is not a single-line JSON object goes to the error
// output instead, as a Firehose-style error record (jsonl.go) with the
// original bytes in base64.
//
// Layout: <root>/<prefix><stream>-<first seq>-<last seq><ext>, where the
// prefix is a Firehose prefix expression (prefix.go) evaluated at the
// arrival time (UTC) of the oldest message in the object, the sequences
// are the stream positions the object holds (20 digits), and ext is
// .jsonl, .jsonl.gz or .parquet (.errors.jsonl[.gz] for the error output).
// The default prefix is Hive-style: events/year=YYYY/month=MM/day=DD/hour=HH/.
//
// Buffering: messages are buffered until BufferBytes of events, MaxMessages
// messages or BufferInterval of age, whichever comes first (Firehose's
// BufferingHints); Flush writes the buffer at any time.
//
// Invariants, which together give exactly-once delivery across crashes:
//   - An object holds a contiguous range of stream sequences of one
//     output, and every message in that range that has events for the
//     output has all of them in it; its name states the range and the
//     stream's life (its creation time: a stream deleted and created again
//     restarts its sequences, and objects of an earlier life do not count).
//     A range also never crosses a partition: a message whose prefix
//     evaluates differently starts a new object.
//   - Objects appear atomically: a temporary file ".<name>.tmp-*" in the
//     target directory, fsync, rename, fsync of the directories. A message
//     is acknowledged only after every object holding its events is
//     durable.
//   - Before a message's sequence is looked up, the writer has read the
//     object names in every directory where an object holding it can be
//     (recovery, writer_recover.go): a redelivered message whose sequence
//     is already in an object of an output is not written to that output
//     again, and is acknowledged once it is in both. So a crash between
//     rename and acknowledgement costs nothing but the redelivery.
//     Temporary files of the stream found there, older than the writer,
//     are a crash's during a write and are removed.
//   - Which output an event goes to depends only on its bytes, so a
//     redelivery splits a message the same way.
//
// Which directories: without Options.StateDir, all of them, once, on open
// (a lake that ran for weeks holds millions of objects: minutes). With it,
// none on open; then, the first time a message that arrived in a given
// second is delivered, the directories of its partition: each prefix the
// stream's objects were ever written under (the layout file in StateDir
// lists them; the current one is added, durably, before any object is
// written under it) evaluated at the message's arrival time, with either
// error output type (either format's). That is enough, and needs no clock
// to be right, because an object holding a message is in exactly one of
// those directories: it is written under a listed prefix evaluated at the
// arrival time of its oldest message; a range never crosses a partition,
// so that is the evaluation at the arrival time of each of its messages;
// and the stream redelivers a message with the arrival time it stored.
// Temporary files are in their object's directory. So recovery costs one
// directory read per partition delivered from (those of unacknowledged
// messages, then the current one), not the lake's age, and only those
// partitions' ranges are kept. When the layout file is missing (a lake
// written before it, or a new one), damaged or of another root, or a
// prefix has a random string before its last '/' (its directories cannot
// be computed), the open reads the whole lake as before.
//
// Limits: a stream deleted and created again while the writer runs is
// noticed only when the writer is opened again (the consumer ends with the
// stream). Parquet schemas grow with every new key (no cap on columns).
// With StateDir, temporary files of messages that never come again
// (removed from the stream first) stay, hidden, until a whole-lake read.
// Writers sharing a root (members of one consumer) learn of each other's
// objects only from directories they read, as before.
//
// Concurrency: a Writer's methods are safe for concurrent use (one mutex;
// Flush holds it while writing, Add while reading a partition's
// directory). Prefix is immutable.
package lake
