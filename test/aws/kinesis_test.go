package aws

import (
	"crypto/md5"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/timestreamquery"

	"github.com/sluice-dev/sluice/internal/apptest"
)

// seedEvent is the Lambda simulator's event (the seed), at time t.
func seedEvent(device string, t time.Time, temp, hum, volt, watt float64) []byte {
	return fmt.Appendf(nil, `{"Time": %d.499, "DeviceID": %q, "temperature_measure": %v, "humidity_measure": %v, "voltage_measure": %v, "watt_measure": %v}`,
		t.UnixMilli(), device, temp, hum, volt, watt)
}

// TestKinesisSeedFlow is the seed's pipeline through the SDKs: the Lambda
// simulator's PutRecords into the stream, sluice's processor in place of
// the Flink job, and a Timestream Query reading the records back.
func TestKinesisSeedFlow(t *testing.T) {
	a := apptest.Start(t, testConfig(t))
	c := newClients(a.HTTPAddr(), "AKIDTEST", "secret")
	ctx := ctxT(t)
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	devices := []string{"12345678-9012-3456-7890-123456789012", "22345678-9012-3456-7890-123456789012", "32345678-9012-3456-7890-123456789012"}
	var entries []ktypes.PutRecordsRequestEntry
	for i := 0; i < 30; i++ {
		d := devices[i%3]
		entries = append(entries, ktypes.PutRecordsRequestEntry{PartitionKey: sdkaws.String(d),
			Data: seedEvent(d, base.Add(time.Duration(i)*time.Second), 11.2+float64(i), 33.4, 55.6, 777.8)})
	}
	out, err := c.kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: sdkaws.String("events"), Records: entries})
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	if sdkaws.ToInt32(out.FailedRecordCount) != 0 || len(out.Records) != 30 {
		t.Fatalf("PutRecords: %d failed of %d", sdkaws.ToInt32(out.FailedRecordCount), len(out.Records))
	}
	sql := `SELECT DeviceID, measure_name, measure_value::double, time FROM "iot"."telemetry" WHERE measure_name = 'temperature' ORDER BY time`
	var got []string
	waitFor(t, "the processor to store the events", 30*time.Second, func() (bool, string) {
		q, err := c.query.Query(ctx, &timestreamquery.QueryInput{QueryString: &sql})
		if err != nil {
			return false, err.Error()
		}
		got = rows(q.Rows)
		return len(got) == 30, fmt.Sprintf("%d rows", len(got))
	})
	for i, r := range got {
		want := fmt.Sprintf("%s|temperature|%v|%s", devices[i%3], 11.2+float64(i),
			base.Add(time.Duration(i)*time.Second+499*time.Microsecond).UTC().Format("2006-01-02 15:04:05.000000000"))
		if r != want {
			t.Errorf("row %d = %s, want %s", i, r, want)
		}
	}
	// Four measures per event, as the seed's mapping makes them.
	q, err := c.query.Query(ctx, &timestreamquery.QueryInput{QueryString: sdkaws.String(`SELECT measure_name, count(*) FROM iot.telemetry GROUP BY measure_name ORDER BY 1`)})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows(q.Rows), " "); got != "humidity|30 temperature|30 voltage|30 watt|30" {
		t.Errorf("counts %s", got)
	}
}

// shardOf computes the shard of a partition key as Kinesis does, for n
// shards split evenly.
func shardOf(key string, n int) int {
	sum := md5.Sum([]byte(key))
	return shardOfHash(new(big.Int).SetBytes(sum[:]), n)
}

func shardOfHash(h *big.Int, n int) int {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	for i := n - 1; i >= 0; i-- {
		start := new(big.Int).Div(new(big.Int).Mul(space, big.NewInt(int64(i))), big.NewInt(int64(n)))
		if h.Cmp(start) >= 0 {
			return i
		}
	}
	return 0
}

type putRec struct {
	key, data, seq string
	shard          int
}

// TestKinesisShards puts records into a 4-shard stream and reads every
// shard with GetShardIterator and GetRecords, in order per shard.
func TestKinesisShards(t *testing.T) {
	a := apptest.Start(t, testConfig(t))
	c := newClients(a.HTTPAddr(), "AKIDTEST", "secret")
	ctx := ctxT(t)
	const name, shards = "sdk-stream", 4
	if _, err := c.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: sdkaws.String(name), ShardCount: sdkaws.Int32(shards)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	if _, err := c.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: sdkaws.String(name), ShardCount: sdkaws.Int32(shards)}); errCode(err) != "ResourceInUseException" {
		t.Errorf("second CreateStream: %v", err)
	}
	w := kinesis.NewStreamExistsWaiter(c.kin)
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: sdkaws.String(name)}, 10*time.Second); err != nil {
		t.Fatalf("StreamExists waiter: %v", err)
	}
	ds, err := c.kin.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: sdkaws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.StreamDescription.Shards) != shards || ds.StreamDescription.StreamStatus != ktypes.StreamStatusActive {
		t.Fatalf("DescribeStream: %+v", ds.StreamDescription)
	}
	if got := *ds.StreamDescription.Shards[2].HashKeyRange.StartingHashKey; got != "170141183460469231731687303715884105728" {
		t.Errorf("shard 2 starts at %s", got)
	}
	if got := *ds.StreamDescription.Shards[3].HashKeyRange.EndingHashKey; got != "340282366920938463463374607431768211455" {
		t.Errorf("shard 3 ends at %s", got)
	}
	ls, err := c.kin.ListShards(ctx, &kinesis.ListShardsInput{StreamName: sdkaws.String(name), MaxResults: sdkaws.Int32(3)})
	if err != nil || len(ls.Shards) != 3 || ls.NextToken == nil {
		t.Fatalf("ListShards page 1: %v %+v", err, ls)
	}
	ls2, err := c.kin.ListShards(ctx, &kinesis.ListShardsInput{NextToken: ls.NextToken})
	if err != nil || len(ls2.Shards) != 1 || *ls2.Shards[0].ShardId != "shardId-000000000003" {
		t.Fatalf("ListShards page 2: %v %+v", err, ls2)
	}

	start := time.Now()
	var put []putRec
	explicit := new(big.Int).Lsh(big.NewInt(1), 127) // the first key of shard 2
	for batch := 0; batch < 3; batch++ {
		var entries []ktypes.PutRecordsRequestEntry
		for i := 0; i < 100; i++ {
			n := batch*100 + i
			e := ktypes.PutRecordsRequestEntry{PartitionKey: sdkaws.String(fmt.Sprintf("device-%d", n%37)), Data: fmt.Appendf(nil, `{"n":%d}`, n)}
			if n%50 == 0 {
				e.ExplicitHashKey = sdkaws.String(explicit.String())
			}
			entries = append(entries, e)
		}
		out, err := c.kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: sdkaws.String(name), Records: entries})
		if err != nil || sdkaws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords: %v", err)
		}
		for i, r := range out.Records {
			want := shardOf(*entries[i].PartitionKey, shards)
			if entries[i].ExplicitHashKey != nil {
				want = 2
			}
			if *r.ShardId != fmt.Sprintf("shardId-%012d", want) {
				t.Fatalf("record %d (%s) went to %s, want shard %d", i, *entries[i].PartitionKey, *r.ShardId, want)
			}
			put = append(put, putRec{*entries[i].PartitionKey, string(entries[i].Data), *r.SequenceNumber, want})
		}
	}
	single, err := c.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: sdkaws.String(name), PartitionKey: sdkaws.String("device-1"), Data: []byte(`{"n":300}`)})
	if err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	put = append(put, putRec{"device-1", `{"n":300}`, *single.SequenceNumber, shardOf("device-1", shards)})

	// Read every shard from TRIM_HORIZON in small batches.
	for shard := 0; shard < shards; shard++ {
		var want []putRec
		for _, p := range put {
			if p.shard == shard {
				want = append(want, p)
			}
		}
		sid := fmt.Sprintf("shardId-%012d", shard)
		it, err := c.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: sdkaws.String(name), ShardId: &sid, ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatalf("GetShardIterator: %v", err)
		}
		iter := it.ShardIterator
		var got []ktypes.Record
		for calls := 0; ; calls++ {
			out, err := c.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: sdkaws.Int32(7)})
			if err != nil {
				t.Fatalf("GetRecords: %v", err)
			}
			if len(out.Records) > 7 {
				t.Fatalf("%d records over Limit 7", len(out.Records))
			}
			got = append(got, out.Records...)
			iter = out.NextShardIterator
			if len(out.Records) == 0 {
				if *out.MillisBehindLatest != 0 {
					t.Errorf("caught up but MillisBehindLatest = %d", *out.MillisBehindLatest)
				}
				break
			}
			if calls > 1000 {
				t.Fatal("GetRecords does not end")
			}
		}
		if len(got) != len(want) {
			t.Fatalf("shard %d: read %d records, put %d", shard, len(got), len(want))
		}
		for i, r := range got {
			if *r.PartitionKey != want[i].key || string(r.Data) != want[i].data || *r.SequenceNumber != want[i].seq {
				t.Fatalf("shard %d record %d = %s %s %s, want %+v", shard, i, *r.PartitionKey, r.Data, *r.SequenceNumber, want[i])
			}
			if i > 0 && *r.SequenceNumber <= *got[i-1].SequenceNumber {
				t.Fatalf("sequence numbers not increasing: %s after %s", *r.SequenceNumber, *got[i-1].SequenceNumber)
			}
			if r.ApproximateArrivalTimestamp.Before(start.Add(-time.Second)) || r.ApproximateArrivalTimestamp.After(time.Now().Add(time.Second)) {
				t.Fatalf("arrival %v", r.ApproximateArrivalTimestamp)
			}
		}
		if len(want) < 3 {
			continue
		}
		// AT_ and AFTER_SEQUENCE_NUMBER start at and after a record.
		for _, tc := range []struct {
			typ  ktypes.ShardIteratorType
			from int
		}{{ktypes.ShardIteratorTypeAtSequenceNumber, 1}, {ktypes.ShardIteratorTypeAfterSequenceNumber, 2}} {
			it, err := c.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: sdkaws.String(name), ShardId: &sid,
				ShardIteratorType: tc.typ, StartingSequenceNumber: &want[1].seq})
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: sdkaws.Int32(1)})
			if err != nil || len(out.Records) != 1 || *out.Records[0].SequenceNumber != want[tc.from].seq {
				t.Fatalf("%s: %v %+v", tc.typ, err, out)
			}
			if *out.MillisBehindLatest < 0 {
				t.Fatalf("MillisBehindLatest %d", *out.MillisBehindLatest)
			}
		}
	}
	// A sequence number of another shard is refused.
	sid0 := "shardId-000000000000"
	var other string
	for _, p := range put {
		if p.shard != 0 {
			other = p.seq
		}
	}
	if _, err := c.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: sdkaws.String(name), ShardId: &sid0,
		ShardIteratorType: ktypes.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: &other}); errCode(err) != "InvalidArgumentException" {
		t.Errorf("foreign sequence number: %v", err)
	}
	// LATEST sees only what comes after; AT_TIMESTAMP of the future too.
	shardOfD1 := fmt.Sprintf("shardId-%012d", shardOf("device-1", shards))
	latest, err := c.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: sdkaws.String(name), ShardId: &shardOfD1, ShardIteratorType: ktypes.ShardIteratorTypeLatest})
	if err != nil {
		t.Fatal(err)
	}
	mark := time.Now()
	time.Sleep(5 * time.Millisecond)
	atTime, err := c.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: sdkaws.String(name), ShardId: &shardOfD1,
		ShardIteratorType: ktypes.ShardIteratorTypeAtTimestamp, Timestamp: &mark})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: sdkaws.String(name), PartitionKey: sdkaws.String("device-1"), Data: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	for _, it := range []*string{latest.ShardIterator, atTime.ShardIterator} {
		out, err := c.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
		if err != nil || len(out.Records) != 1 || string(out.Records[0].Data) != "after" {
			t.Fatalf("LATEST / AT_TIMESTAMP: %v %+v", err, out)
		}
	}

	// Listing, errors and deletion.
	lst, err := c.kin.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(lst.StreamNames) || !slices.Contains(lst.StreamNames, "events") || !slices.Contains(lst.StreamNames, name) {
		t.Errorf("ListStreams = %v", lst.StreamNames)
	}
	sum, err := c.kin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: sdkaws.String("arn:aws:kinesis:us-east-1:000000000000:stream/" + name)})
	if err != nil || *sum.StreamDescriptionSummary.OpenShardCount != shards || *sum.StreamDescriptionSummary.RetentionPeriodHours != 24 {
		t.Fatalf("DescribeStreamSummary: %v %+v", err, sum)
	}
	if _, err := c.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: sdkaws.String("bogus")}); errCode(err) != "InvalidArgumentException" {
		t.Errorf("bad iterator: %v", err)
	}
	if _, err := c.kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: sdkaws.String("nope"),
		Records: []ktypes.PutRecordsRequestEntry{{PartitionKey: sdkaws.String("k"), Data: []byte("x")}}}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("PutRecords to a missing stream: %v", err)
	}
	if _, err := c.kin.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: sdkaws.String("events")}); errCode(err) != "ResourceInUseException" {
		t.Errorf("deleting the ingest stream: %v", err)
	}
	if _, err := c.kin.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: sdkaws.String(name)}); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	if _, err := c.kin.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: sdkaws.String(name)}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("DescribeStream after delete: %v", err)
	}
}
