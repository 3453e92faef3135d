package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/stream"
)

// Kinesis Data Streams (aws-compat.md §6).

// Kinesis limits (§6.4).
const (
	maxPutRecords      = 500
	maxRecordBytes     = 1 << 20  // data + partition key
	maxPutRecordsBytes = 10 << 20 // one PutRecords call
	maxPartitionKey    = 256
	maxGetRecords      = 10000
	maxGetRecordsBytes = 10 << 20
	// frameBytes is where a PutRecords call is split into several stream
	// messages: below the 1 MiB default max_payload of a NATS server.
	frameBytes = 900 << 10
	// getRecordsBudget bounds the messages and time one GetRecords scans,
	// so that it answers promptly even when a shard is sparse.
	getRecordsMessages = 2000
	getRecordsTime     = 500 * time.Millisecond
)

func (s *Server) kinesisOps() map[string]func(context.Context, *call) (any, error) {
	return map[string]func(context.Context, *call) (any, error){
		"CreateStream":          s.createStream,
		"DeleteStream":          s.deleteStream,
		"DescribeStream":        s.describeStream,
		"DescribeStreamSummary": s.describeStreamSummary,
		"ListStreams":           s.listStreams,
		"ListShards":            s.listShards,
		"PutRecord":             s.putRecord,
		"PutRecords":            s.putRecords,
		"GetShardIterator":      s.getShardIterator,
		"GetRecords":            s.getRecords,
	}
}

func (s *Server) streamARN(name string) string {
	return "arn:aws:kinesis:" + s.opts.Region + ":" + s.opts.AccountID + ":stream/" + name
}

func notFound(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, "ResourceNotFoundException", format, args...)
}

// streamRef is the StreamName / StreamARN pair every data-plane op takes.
type streamRef struct {
	StreamName string
	StreamARN  string
}

func (r streamRef) name() (string, error) {
	name := r.StreamName
	if r.StreamARN != "" {
		i := strings.LastIndex(r.StreamARN, ":stream/")
		if !strings.HasPrefix(r.StreamARN, "arn:") || i < 0 {
			return "", invalidArg("StreamARN %q is not a Kinesis stream ARN", r.StreamARN)
		}
		fromARN := r.StreamARN[i+len(":stream/"):]
		if name != "" && name != fromARN {
			return "", invalidArg("StreamName %q and StreamARN %q name different streams", name, r.StreamARN)
		}
		name = fromARN
	}
	if name == "" {
		return "", validation("Either StreamName or StreamARN must be given")
	}
	if err := validStreamName(name); err != nil {
		return "", validation("%v", err)
	}
	return name, nil
}

// resolve decodes the stream reference and checks the caller's right.
func (s *Server) resolve(c *call, ref streamRef, action string) (string, error) {
	name, err := ref.name()
	if err != nil {
		return "", err
	}
	return name, c.authorize(action, s.streamARN(name))
}

type streamInfoer interface {
	Info(ctx context.Context, name string) (stream.StreamInfo, error)
}

// info returns the sluice stream's state or ResourceNotFoundException.
func (s *Server) info(ctx context.Context, name string) (stream.StreamInfo, error) {
	var si stream.StreamInfo
	var err error
	if in, ok := s.broker.(streamInfoer); ok {
		si, err = in.Info(ctx, name)
	} else {
		var all []stream.StreamInfo
		if all, err = s.broker.Streams(ctx); err == nil {
			err = stream.ErrNoStream
			for _, x := range all {
				if x.Config.Name == name {
					si, err = x, nil
				}
			}
		}
	}
	if errors.Is(err, stream.ErrNoStream) {
		return si, notFound("Stream %s under account %s not found.", name, s.opts.AccountID)
	}
	if err != nil {
		return si, fmt.Errorf("awsapi: stream %s: %w", name, err)
	}
	return si, nil
}

// shards returns the stream's shard count and creation time.
func (s *Server) shards(name string, si stream.StreamInfo) (int, time.Time) {
	if m, ok := s.meta.get(name); ok {
		return m.Shards, m.Created
	}
	return s.opts.DefaultShards, si.Created
}

func (s *Server) shardCount(name string) int {
	if m, ok := s.meta.get(name); ok {
		return m.Shards
	}
	return s.opts.DefaultShards
}

func (s *Server) createStream(ctx context.Context, c *call) (any, error) {
	var in struct {
		StreamName        string
		ShardCount        *int
		StreamModeDetails *struct{ StreamMode string }
		Tags              map[string]string
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if err := required("StreamName", in.StreamName); err != nil {
		return nil, err
	}
	if err := validStreamName(in.StreamName); err != nil {
		return nil, validation("%v", err)
	}
	if err := c.authorize("kinesis:CreateStream", s.streamARN(in.StreamName)); err != nil {
		return nil, err
	}
	n := 4 // ON_DEMAND streams start with 4 shards
	if in.ShardCount != nil {
		n = *in.ShardCount
	} else if in.StreamModeDetails == nil || in.StreamModeDetails.StreamMode != "ON_DEMAND" {
		return nil, invalidArg("ShardCount is required for a PROVISIONED stream")
	}
	if n < 1 || n > maxShards {
		return nil, invalidArg("ShardCount %d must be between 1 and %d", n, maxShards)
	}
	if _, err := s.info(ctx, in.StreamName); err == nil {
		return nil, errf(http.StatusBadRequest, "ResourceInUseException", "Stream %s under account %s already exists.", in.StreamName, s.opts.AccountID)
	}
	if err := s.meta.set(in.StreamName, &streamMeta{Shards: n, Created: s.opts.Now().UTC(), Tags: in.Tags}); err != nil {
		return nil, err
	}
	if err := s.broker.EnsureStream(ctx, stream.Config{Name: in.StreamName, Retention: s.opts.StreamRetention}); err != nil {
		s.meta.set(in.StreamName, nil)
		return nil, fmt.Errorf("awsapi: creating stream %s: %w", in.StreamName, err)
	}
	return nil, nil
}

func (s *Server) deleteStream(ctx context.Context, c *call) (any, error) {
	var in struct {
		streamRef
		EnforceConsumerDeletion bool
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	name, err := s.resolve(c, in.streamRef, "kinesis:DeleteStream")
	if err != nil {
		return nil, err
	}
	if slices.Contains(s.opts.Protected, name) {
		return nil, errf(http.StatusBadRequest, "ResourceInUseException", "Stream %s is sluice's own (ingest, processor or dead letters) and cannot be deleted through the Kinesis API.", name)
	}
	if _, err := s.info(ctx, name); err != nil {
		return nil, err
	}
	if err := s.broker.DeleteStream(ctx, name); err != nil {
		if errors.Is(err, stream.ErrNoStream) {
			return nil, notFound("Stream %s under account %s not found.", name, s.opts.AccountID)
		}
		return nil, fmt.Errorf("awsapi: deleting stream %s: %w", name, err)
	}
	if err := s.meta.set(name, nil); err != nil {
		return nil, err
	}
	return nil, nil
}

type hashKeyRange struct {
	StartingHashKey string
	EndingHashKey   string
}

type seqRange struct {
	StartingSequenceNumber string
	EndingSequenceNumber   string `json:",omitempty"`
}

type shardOut struct {
	ShardId             string
	HashKeyRange        hashKeyRange
	SequenceNumberRange seqRange
}

func (s *Server) shardList(si stream.StreamInfo, n int) []shardOut {
	l := s.layouts.get(n)
	first := max(si.FirstSeq, 1)
	out := make([]shardOut, n)
	for i := range out {
		start, end := l.rangeOf(i)
		out[i] = shardOut{ShardId: shardID(i), HashKeyRange: hashKeyRange{start, end},
			SequenceNumberRange: seqRange{StartingSequenceNumber: formatSeq(position{first, 0}, i)}}
	}
	return out
}

var modeProvisioned = map[string]string{"StreamMode": "PROVISIONED"}
var noMonitoring = []map[string][]string{{"ShardLevelMetrics": {}}}

func retentionHours(si stream.StreamInfo) int {
	h := int(si.Config.Retention / time.Hour)
	if h == 0 {
		h = 24
	}
	return h
}

func (s *Server) describeStream(ctx context.Context, c *call) (any, error) {
	var in struct {
		streamRef
		Limit                 *int
		ExclusiveStartShardId string
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	name, err := s.resolve(c, in.streamRef, "kinesis:DescribeStream")
	if err != nil {
		return nil, err
	}
	si, err := s.info(ctx, name)
	if err != nil {
		return nil, err
	}
	n, created := s.shards(name, si)
	shards := s.shardList(si, n)
	if in.ExclusiveStartShardId != "" {
		k, ok := parseShardID(in.ExclusiveStartShardId)
		if !ok {
			return nil, invalidArg("ExclusiveStartShardId %q is not a shard id", in.ExclusiveStartShardId)
		}
		shards = shards[min(k+1, len(shards)):]
	}
	limit := 100
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 10000 {
			return nil, validation("Limit must be between 1 and 10000")
		}
		limit = *in.Limit
	}
	more := len(shards) > limit
	if more {
		shards = shards[:limit]
	}
	return map[string]any{"StreamDescription": map[string]any{
		"StreamName": name, "StreamARN": s.streamARN(name), "StreamStatus": "ACTIVE",
		"StreamModeDetails": modeProvisioned, "Shards": shards, "HasMoreShards": more,
		"RetentionPeriodHours": retentionHours(si), "StreamCreationTimestamp": epochSeconds(created),
		"EnhancedMonitoring": noMonitoring, "EncryptionType": "NONE",
	}}, nil
}

func (s *Server) describeStreamSummary(ctx context.Context, c *call) (any, error) {
	var in struct{ streamRef }
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	name, err := s.resolve(c, in.streamRef, "kinesis:DescribeStreamSummary")
	if err != nil {
		return nil, err
	}
	si, err := s.info(ctx, name)
	if err != nil {
		return nil, err
	}
	n, created := s.shards(name, si)
	return map[string]any{"StreamDescriptionSummary": map[string]any{
		"StreamName": name, "StreamARN": s.streamARN(name), "StreamStatus": "ACTIVE",
		"StreamModeDetails": modeProvisioned, "RetentionPeriodHours": retentionHours(si),
		"StreamCreationTimestamp": epochSeconds(created), "EnhancedMonitoring": noMonitoring,
		"EncryptionType": "NONE", "OpenShardCount": n, "ConsumerCount": 0,
	}}, nil
}

func (s *Server) listStreams(ctx context.Context, c *call) (any, error) {
	var in struct {
		Limit                    *int
		ExclusiveStartStreamName string
		NextToken                string
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if err := c.authorize("kinesis:ListStreams", s.streamARN("*")); err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 10000 {
			return nil, validation("Limit must be between 1 and 10000")
		}
		limit = *in.Limit
	}
	after := in.ExclusiveStartStreamName
	if in.NextToken != "" {
		var err error
		if after, err = parsePageToken(in.NextToken); err != nil {
			return nil, errf(http.StatusBadRequest, "ExpiredNextTokenException", "NextToken is not valid")
		}
	}
	all, err := s.broker.Streams(ctx)
	if err != nil {
		return nil, fmt.Errorf("awsapi: listing streams: %w", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Config.Name < all[j].Config.Name })
	names := []string{}
	summaries := []map[string]any{}
	more := false
	for _, si := range all {
		name := si.Config.Name
		if name <= after {
			continue
		}
		if len(names) == limit {
			more = true
			break
		}
		_, created := s.shards(name, si)
		names = append(names, name)
		summaries = append(summaries, map[string]any{"StreamName": name, "StreamARN": s.streamARN(name),
			"StreamStatus": "ACTIVE", "StreamModeDetails": modeProvisioned, "StreamCreationTimestamp": epochSeconds(created)})
	}
	out := map[string]any{"StreamNames": names, "HasMoreStreams": more, "StreamSummaries": summaries}
	if more {
		out["NextToken"] = pageToken(names[len(names)-1])
	}
	return out, nil
}

func (s *Server) listShards(ctx context.Context, c *call) (any, error) {
	var in struct {
		streamRef
		NextToken             string
		ExclusiveStartShardId string
		MaxResults            *int
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	start := -1
	if in.NextToken != "" {
		if in.StreamName != "" {
			return nil, invalidArg("NextToken and StreamName cannot be given together")
		}
		tok, err := parsePageToken(in.NextToken)
		if err != nil {
			return nil, errf(http.StatusBadRequest, "ExpiredNextTokenException", "NextToken is not valid")
		}
		name, last, ok := strings.Cut(tok, "\x00")
		k, ok2 := parseShardID(last)
		if !ok || !ok2 {
			return nil, errf(http.StatusBadRequest, "ExpiredNextTokenException", "NextToken is not valid")
		}
		in.StreamName, in.StreamARN, start = name, "", k
	}
	name, err := s.resolve(c, in.streamRef, "kinesis:ListShards")
	if err != nil {
		return nil, err
	}
	if in.ExclusiveStartShardId != "" {
		k, ok := parseShardID(in.ExclusiveStartShardId)
		if !ok {
			return nil, invalidArg("ExclusiveStartShardId %q is not a shard id", in.ExclusiveStartShardId)
		}
		start = k
	}
	si, err := s.info(ctx, name)
	if err != nil {
		return nil, err
	}
	n, _ := s.shards(name, si)
	limit := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10000 {
			return nil, invalidArg("MaxResults must be between 1 and 10000")
		}
		limit = min(*in.MaxResults, 1000)
	}
	shards := s.shardList(si, n)[min(start+1, n):]
	out := map[string]any{}
	if len(shards) > limit {
		shards = shards[:limit]
		out["NextToken"] = pageToken(name + "\x00" + shards[limit-1].ShardId)
	}
	out["Shards"] = shards
	return out, nil
}

type putEntry struct {
	Data            []byte
	PartitionKey    string
	ExplicitHashKey string
}

type putResult struct {
	SequenceNumber string `json:",omitempty"`
	ShardId        string `json:",omitempty"`
	ErrorCode      string `json:",omitempty"`
	ErrorMessage   string `json:",omitempty"`
}

func checkEntry(e *putEntry, i int) error {
	at := ""
	if i >= 0 {
		at = fmt.Sprintf("Records[%d].", i)
	}
	if e.PartitionKey == "" || len([]rune(e.PartitionKey)) > maxPartitionKey {
		return validation("%sPartitionKey must be 1 to %d characters long", at, maxPartitionKey)
	}
	if len(e.Data)+len(e.PartitionKey) > maxRecordBytes {
		return validation("%sData and PartitionKey are %d bytes; the limit is %d", at, len(e.Data)+len(e.PartitionKey), maxRecordBytes)
	}
	if e.ExplicitHashKey != "" {
		h, err := parseExplicitHashKey(e.ExplicitHashKey)
		if err != nil {
			return invalidArg("%s%v", at, err)
		}
		e.ExplicitHashKey = h.String() // canonical: no leading zeros
	}
	return nil
}

// put publishes entries and fills results. Through Options.Publisher the
// records join the group commit of concurrent callers; a record whose
// stream message failed gets an error result. Without one, entries go out
// in order as few stream messages as the payload limit allows, and a failed
// message fails its records and every record after it (nothing later is
// attempted, so order holds).
func (s *Server) put(ctx context.Context, name string, entries []putEntry, results []putResult) (failed int, err error) {
	layout := s.layouts.get(s.shardCount(name))
	shard := make([]int, len(entries))
	for i := range entries {
		shard[i] = layout.recordShard(entries[i].PartitionKey, entries[i].ExplicitHashKey)
	}
	if s.opts.Publisher != nil {
		return s.putGrouped(ctx, name, entries, shard, results)
	}
	var frame []byte
	for start := 0; start < len(entries); {
		end, size := start, 0
		for end < len(entries) && (end == start || size+len(entries[end].Data)+len(entries[end].PartitionKey)+64 <= frameBytes) {
			size += len(entries[end].Data) + len(entries[end].PartitionKey) + 64
			end++
		}
		frame = stream.AppendFrameHeader(frame[:0], end-start)
		for _, e := range entries[start:end] {
			frame = stream.AppendRecord(frame, stream.Record{Key: e.PartitionKey, HashKey: e.ExplicitHashKey, Data: e.Data})
		}
		ack, perr := s.broker.Publish(ctx, name, frame)
		if perr != nil {
			code, msg, fatal := s.putFailure(name, perr, len(entries) == 1)
			if fatal != nil {
				return 0, fatal
			}
			for i := start; i < len(entries); i++ {
				results[i] = putResult{ErrorCode: code, ErrorMessage: msg}
			}
			return len(entries) - start, perr
		}
		for i := start; i < end; i++ {
			results[i] = putResult{SequenceNumber: formatSeq(position{ack.Seq, i - start}, shard[i]), ShardId: shardID(shard[i])}
		}
		start = end
	}
	return 0, nil
}

// putGrouped is put through Options.Publisher.
func (s *Server) putGrouped(ctx context.Context, name string, entries []putEntry, shard []int, results []putResult) (failed int, err error) {
	recs := make([]stream.Record, len(entries))
	for i, e := range entries {
		recs[i] = stream.Record{Key: e.PartitionKey, HashKey: e.ExplicitHashKey, Data: e.Data}
	}
	pos := make([]stream.Position, len(entries))
	perr := s.opts.Publisher.PublishAt(ctx, name, recs, pos)
	var code, msg string
	if perr != nil {
		var fatal error
		if code, msg, fatal = s.putFailure(name, perr, len(entries) == 1); fatal != nil {
			return 0, fatal
		}
	}
	for i := range entries {
		if pos[i].Seq == 0 {
			results[i] = putResult{ErrorCode: code, ErrorMessage: msg}
			failed++
			continue
		}
		results[i] = putResult{SequenceNumber: formatSeq(position{pos[i].Seq, pos[i].Index}, shard[i]), ShardId: shardID(shard[i])}
	}
	return failed, perr
}

// putFailure classifies a failed publish: the per-record error code and
// message, or an error that fails the whole call (an unknown stream; a
// single record the stream cannot take).
func (s *Server) putFailure(name string, perr error, single bool) (code, msg string, fatal error) {
	code, msg = "InternalFailure", "Internal Service Failure"
	switch {
	case errors.Is(perr, stream.ErrNoStream):
		return "", "", notFound("Stream %s under account %s not found.", name, s.opts.AccountID)
	case errors.Is(perr, stream.ErrBackpressure), errors.Is(perr, context.DeadlineExceeded):
		code = "ProvisionedThroughputExceededException"
		msg = fmt.Sprintf("Rate exceeded for stream %s under account %s.", name, s.opts.AccountID)
	case errors.Is(perr, stream.ErrTooLarge):
		if single {
			return "", "", invalidArg("the record is larger than the stream accepts")
		}
	default:
		s.logger.Warn("kinesis put failed", "stream", name, "err", perr)
	}
	return code, msg, nil
}

func (s *Server) putRecord(ctx context.Context, c *call) (any, error) {
	var in struct {
		streamRef
		putEntry
		SequenceNumberForOrdering string
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	name, err := s.resolve(c, in.streamRef, "kinesis:PutRecord")
	if err != nil {
		return nil, err
	}
	if err := checkEntry(&in.putEntry, -1); err != nil {
		return nil, err
	}
	res := make([]putResult, 1)
	if _, err := s.put(ctx, name, []putEntry{in.putEntry}, res); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return nil, ae
		}
		if res[0].ErrorCode == "ProvisionedThroughputExceededException" {
			return nil, errf(http.StatusBadRequest, res[0].ErrorCode, "%s", res[0].ErrorMessage)
		}
		return nil, err
	}
	return map[string]any{"ShardId": res[0].ShardId, "SequenceNumber": res[0].SequenceNumber, "EncryptionType": "NONE"}, nil
}

func (s *Server) putRecords(ctx context.Context, c *call) (any, error) {
	var in struct {
		streamRef
		Records []putEntry
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	name, err := s.resolve(c, in.streamRef, "kinesis:PutRecords")
	if err != nil {
		return nil, err
	}
	if len(in.Records) < 1 || len(in.Records) > maxPutRecords {
		return nil, validation("1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and %d (it has %d)", maxPutRecords, len(in.Records))
	}
	total := 0
	for i := range in.Records {
		if err := checkEntry(&in.Records[i], i); err != nil {
			return nil, err
		}
		total += len(in.Records[i].Data) + len(in.Records[i].PartitionKey)
	}
	if total > maxPutRecordsBytes {
		return nil, invalidArg("the records are %d bytes together; the limit of one PutRecords call is %d", total, maxPutRecordsBytes)
	}
	res := make([]putResult, len(in.Records))
	failed, err := s.put(ctx, name, in.Records, res)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return nil, ae
		}
		// Per-record errors: the call itself succeeds (HTTP 200).
	}
	return map[string]any{"FailedRecordCount": failed, "Records": res, "EncryptionType": "NONE"}, nil
}

func (s *Server) getShardIterator(ctx context.Context, c *call) (any, error) {
	var in struct {
		streamRef
		ShardId                string
		ShardIteratorType      string
		StartingSequenceNumber string
		Timestamp              *float64
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	name, err := s.resolve(c, in.streamRef, "kinesis:GetShardIterator")
	if err != nil {
		return nil, err
	}
	if err := required("ShardId", in.ShardId); err != nil {
		return nil, err
	}
	si, err := s.info(ctx, name)
	if err != nil {
		return nil, err
	}
	n, _ := s.shards(name, si)
	shard, ok := parseShardID(in.ShardId)
	if !ok || shard >= n {
		return nil, notFound("Shard %s in stream %s under account %s does not exist", in.ShardId, name, s.opts.AccountID)
	}
	first := max(si.FirstSeq, 1)
	var pos position
	switch in.ShardIteratorType {
	case "TRIM_HORIZON":
		pos = position{first, 0}
	case "LATEST":
		pos = position{si.LastSeq + 1, 0}
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		p, sh, err := parseSeq(in.StartingSequenceNumber)
		if err != nil || sh != shard {
			return nil, invalidArg("StartingSequenceNumber %q used in GetShardIterator on shard %s in stream %s under account %s is invalid.",
				in.StartingSequenceNumber, in.ShardId, name, s.opts.AccountID)
		}
		if in.ShardIteratorType == "AFTER_SEQUENCE_NUMBER" {
			p.idx++
		}
		pos = p
	case "AT_TIMESTAMP":
		if in.Timestamp == nil {
			return nil, invalidArg("Timestamp is required for ShardIteratorType AT_TIMESTAMP")
		}
		ts := time.UnixMilli(int64(math.Round(*in.Timestamp * 1000)))
		if pos, err = s.seekTime(ctx, name, si, ts); err != nil {
			return nil, err
		}
	case "":
		return nil, validation("ShardIteratorType is required")
	default:
		return nil, validation("ShardIteratorType %q must be one of AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP", in.ShardIteratorType)
	}
	return map[string]string{"ShardIterator": encodeIterator(iterator{stream: name, shard: shard, pos: pos, issued: s.opts.Now()})}, nil
}

// seekTime finds the first message stored at or after ts by binary search
// (stream times increase with sequence).
func (s *Server) seekTime(ctx context.Context, name string, si stream.StreamInfo, ts time.Time) (position, error) {
	lo, hi := max(si.FirstSeq, 1), si.LastSeq+1 // answer in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := s.broker.Get(ctx, name, mid)
		if errors.Is(err, stream.ErrNoMessage) {
			lo = mid + 1 // removed meanwhile: older than anything left
			continue
		}
		if err != nil {
			return position{}, fmt.Errorf("awsapi: reading %s #%d: %w", name, mid, err)
		}
		if m.Time.Before(ts) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return position{lo, 0}, nil
}

type recordOut struct {
	SequenceNumber              string
	ApproximateArrivalTimestamp json.Number
	Data                        []byte
	PartitionKey                string
}

func (s *Server) getRecords(ctx context.Context, c *call) (any, error) {
	var in struct {
		ShardIterator string
		Limit         *int
		StreamARN     string
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if err := required("ShardIterator", in.ShardIterator); err != nil {
		return nil, err
	}
	it, err := decodeIterator(in.ShardIterator)
	if err != nil {
		return nil, invalidArg("ShardIterator is not valid")
	}
	if err := c.authorize("kinesis:GetRecords", s.streamARN(it.stream)); err != nil {
		return nil, err
	}
	now := s.opts.Now()
	if now.Sub(it.issued) > iteratorTTL {
		return nil, errf(http.StatusBadRequest, "ExpiredIteratorException",
			"Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			it.issued.UTC().Format(time.RFC1123), now.UTC().Format(time.RFC1123), iteratorTTL.Milliseconds())
	}
	limit := maxGetRecords
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > maxGetRecords {
			return nil, invalidArg("Limit must be between 1 and %d", maxGetRecords)
		}
		limit = *in.Limit
	}
	si, err := s.info(ctx, it.stream)
	if err != nil {
		return nil, err
	}
	n := s.shardCount(it.stream)
	if it.shard >= n {
		return nil, notFound("Shard %s in stream %s under account %s does not exist", shardID(it.shard), it.stream, s.opts.AccountID)
	}
	layout := s.layouts.get(n)
	pos := it.pos
	if first := max(si.FirstSeq, 1); pos.seq < first {
		pos = position{first, 0} // trimmed by retention
	}
	recs := []recordOut{}
	bytes := 0
	var lastTime time.Time
	deadline := time.Now().Add(getRecordsTime)
	for scanned := 0; pos.seq <= si.LastSeq && len(recs) < limit && scanned < getRecordsMessages; scanned++ {
		if scanned > 0 && time.Now().After(deadline) {
			break
		}
		m, err := s.broker.Get(ctx, it.stream, pos.seq)
		if errors.Is(err, stream.ErrNoMessage) {
			pos = position{pos.seq + 1, 0}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("awsapi: reading %s #%d: %w", it.stream, pos.seq, err)
		}
		next := position{pos.seq + 1, 0}
		full := false
		derr := stream.DecodeFrame(m.Data, func(i int, r stream.Record) error {
			if i < pos.idx || layout.recordShard(r.Key, r.HashKey) != it.shard {
				return nil
			}
			if len(recs) == limit || len(recs) > 0 && bytes+len(r.Data) > maxGetRecordsBytes {
				next, full = position{pos.seq, i}, true
				return errStop
			}
			bytes += len(r.Data) + len(r.Key)
			recs = append(recs, recordOut{SequenceNumber: formatSeq(position{pos.seq, i}, it.shard),
				ApproximateArrivalTimestamp: epochSeconds(m.Time), Data: r.Data, PartitionKey: r.Key})
			return nil
		})
		if derr != nil && !errors.Is(derr, errStop) {
			// Not a frame (a message published by other means): skip it.
			s.logger.Debug("kinesis: skipping a message that is not a frame", "stream", it.stream, "seq", pos.seq, "err", derr)
		}
		lastTime = m.Time
		pos = next
		if full {
			break
		}
	}
	behind := int64(0)
	if pos.seq <= si.LastSeq {
		if tip, err := s.broker.Get(ctx, it.stream, si.LastSeq); err == nil && !lastTime.IsZero() {
			behind = max(tip.Time.Sub(lastTime).Milliseconds(), 0)
		} else if err == nil {
			behind = max(now.Sub(tip.Time).Milliseconds(), 0)
		}
		behind = max(behind, 1) // not caught up: never 0
	}
	it.pos, it.issued = pos, now
	return map[string]any{"Records": recs, "NextShardIterator": encodeIterator(it), "MillisBehindLatest": behind}, nil
}

var errStop = errors.New("stop")
