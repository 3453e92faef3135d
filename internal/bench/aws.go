package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/timestreamwrite"
	wtypes "github.com/aws/aws-sdk-go-v2/service/timestreamwrite/types"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/timestream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// Target of the AWS-compatible write path, relative to the native one.
var targetAWSWriteRatio = atLeast(0.5) // WriteRecords via the SDK / native direct writes, points/s

type awsConfig struct {
	writers    int
	duration   time.Duration
	putBatch   int
	streamSync string
	walSync    string
	logLevel   string
}

func awsFlags(fs *flag.FlagSet) (func(*run) error, func(map[string]bool)) {
	c := &awsConfig{}
	fs.IntVar(&c.writers, "writers", 16, "concurrent clients in every phase")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "load time of each phase")
	fs.IntVar(&c.putBatch, "put-batch", 500, "records per PutRecords call and events per native ingest request")
	fs.StringVar(&c.streamSync, "stream-sync", "always", "stream fsync: always or interval (as the server's --stream-sync)")
	fs.StringVar(&c.walSync, "wal-sync", "always", "store fsync: always or relaxed (as the server's --wal-sync)")
	fs.StringVar(&c.logLevel, "log-level", "warn", "the server's log level (logs go to stderr)")
	quick := func(set map[string]bool) {
		if !set["duration"] {
			c.duration = 2 * time.Second
		}
	}
	return func(r *run) error { return runAWS(r, c) }, quick
}

// awsBench is one run of the aws suite: the same server takes native and
// SDK traffic in turn, so the ratio compares like with like.
type awsBench struct {
	*run
	c      *awsConfig
	app    *app.App
	base   string
	client *http.Client
	start  time.Time // record times count up from here, per writer
}

// recordsPerWrite is Timestream's WriteRecords limit; both write paths
// send requests of this size: 25 times × the seed's 4 measures.
const recordsPerWrite = 100

var seedMeasures = [4]string{"temperature", "humidity", "voltage", "watt"}

func runAWS(r *run, c *awsConfig) (err error) {
	if c.writers < 1 || c.duration <= 0 || c.putBatch < 1 || c.putBatch > 500 {
		return errors.New("--writers must be at least 1, --duration positive, --put-batch 1 to 500")
	}
	b := &awsBench{run: r, c: c, start: time.Now().Add(-50 * time.Minute).Truncate(time.Second)}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(r.dir, "data")
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MQTTAddr, cfg.PGAddr = "", ""
	cfg.StreamSync, cfg.WALSync = c.streamSync, c.walSync
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if b.app, err = app.New(cfg, slog.New(slog.NewTextHandler(r.stderr, &slog.HandlerOptions{Level: level}))); err != nil {
		return fmt.Errorf("configure server: %w", err)
	}
	if err := b.app.Start(r.ctx); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if serr := b.app.Shutdown(ctx); serr != nil && err == nil {
			err = fmt.Errorf("stop server: %w", serr)
		}
	}()
	b.base = "http://" + b.app.HTTPAddr()
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	b.client = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	for _, t := range []string{"bench_native", "bench_sdk"} {
		if _, err := b.app.DB().CreateTable(r.ctx, cfg.Database, t, tsdb.TableOptions{}); err != nil {
			return fmt.Errorf("create table %s: %w", t, err)
		}
	}
	sdkCfg := sdkaws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDBENCH", "benchsecret", ""),
		HTTPClient: b.client, RetryMaxAttempts: 1}
	base := sdkaws.String(b.base)
	tw := timestreamwrite.NewFromConfig(sdkCfg, func(o *timestreamwrite.Options) { o.BaseEndpoint = base })
	kin := kinesis.NewFromConfig(sdkCfg, func(o *kinesis.Options) { o.BaseEndpoint = base })

	var native, sdk float64
	if r.want("write") {
		if native, err = b.phase("write_native", recordsPerWrite, func(ctx context.Context, w, n int) error {
			return b.nativeWrite(ctx, cfg.Database, w, n)
		}); err != nil {
			return err
		}
		r.add(fmt.Sprintf("write_native/writers=%d/records=%d", c.writers, recordsPerWrite), native, "points/s", nil)
		if sdk, err = b.phase("write_sdk", recordsPerWrite, func(ctx context.Context, w, n int) error {
			_, err := tw.WriteRecords(ctx, b.writeInput(cfg.Database, "bench_sdk", w, n))
			return err
		}); err != nil {
			return err
		}
		r.add(fmt.Sprintf("write_sdk/writers=%d/records=%d", c.writers, recordsPerWrite), sdk, "points/s", nil)
		r.add("write_sdk/ratio_to_native", sdk/native, "ratio", targetAWSWriteRatio)
	}
	if r.want("put") {
		ingest, err := b.phase("ingest_native", c.putBatch, func(ctx context.Context, w, n int) error {
			return b.nativeIngest(ctx, cfg.Stream, w, n)
		})
		if err != nil {
			return err
		}
		r.add(fmt.Sprintf("ingest_native/writers=%d/batch=%d", c.writers, c.putBatch), ingest, "events/s", nil)
		put, err := b.phase("put_sdk", c.putBatch, func(ctx context.Context, w, n int) error {
			out, err := kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: sdkaws.String(cfg.Stream), Records: b.putEntries(w, n)})
			if err == nil && sdkaws.ToInt32(out.FailedRecordCount) > 0 {
				err = fmt.Errorf("%d records failed (%s)", sdkaws.ToInt32(out.FailedRecordCount), firstPutError(out.Records))
			}
			return err
		})
		if err != nil {
			return err
		}
		r.add(fmt.Sprintf("put_sdk/writers=%d/batch=%d", c.writers, c.putBatch), put, "records/s", nil)
		r.add("put_sdk/ratio_to_native_ingest", put/ingest, "ratio", nil)
	}
	return nil
}

func firstPutError(rs []ktypes.PutRecordsResultEntry) string {
	for _, r := range rs {
		if r.ErrorCode != nil {
			return *r.ErrorCode + ": " + sdkaws.ToString(r.ErrorMessage)
		}
	}
	return ""
}

// phase runs send on c.writers goroutines for c.duration; send(w, n)
// sends writer w's n-th request of perReq items. It returns items/s.
func (b *awsBench) phase(name string, perReq int, send func(ctx context.Context, w, n int) error) (float64, error) {
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	var done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	stop := b.progress.start(name, func(el time.Duration) string {
		return fmt.Sprintf("%.0f/s", float64(done.Load())/el.Seconds())
	})
	begin := time.Now()
	deadline := begin.Add(b.c.duration)
	var wg sync.WaitGroup
	for w := 0; w < b.c.writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(deadline); n++ {
				if err := send(ctx, w, n); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("%s: writer %d request %d: %w", name, w, n, err); cancel() })
					return
				}
				done.Add(int64(perReq))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	stop()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(done.Load()) / elapsed.Seconds(), nil
}

// record is request n of writer w: device "w<w>", 25 times 1 ms apart
// after the writer's previous request, the seed's 4 measures each.
func (b *awsBench) recordTime(n, j int) string {
	return strconv.FormatInt(b.start.Add(time.Duration(n*25+j)*time.Millisecond).UnixMilli(), 10)
}

func (b *awsBench) writeInput(db, table string, w, n int) *timestreamwrite.WriteRecordsInput {
	recs := make([]wtypes.Record, 0, recordsPerWrite)
	for j := 0; j < recordsPerWrite/4; j++ {
		ts := b.recordTime(n, j)
		for k, m := range seedMeasures {
			recs = append(recs, wtypes.Record{MeasureName: sdkaws.String(m), MeasureValueType: wtypes.MeasureValueTypeDouble,
				MeasureValue: sdkaws.String(strconv.FormatFloat(float64(n%100)+float64(k)+0.25, 'f', -1, 64)), Time: sdkaws.String(ts)})
		}
	}
	return &timestreamwrite.WriteRecordsInput{DatabaseName: &db, TableName: &table, Records: recs,
		CommonAttributes: &wtypes.Record{Dimensions: []wtypes.Dimension{{Name: sdkaws.String("DeviceID"), Value: sdkaws.String("w" + strconv.Itoa(w))}}}}
}

// nativeWrite sends the same records to the native direct-write endpoint.
func (b *awsBench) nativeWrite(ctx context.Context, db string, w, n int) error {
	req := timestream.WriteRequest{CommonAttributes: &timestream.Record{Dimensions: []timestream.Dimension{{Name: "DeviceID", Value: "w" + strconv.Itoa(w)}}}}
	for j := 0; j < recordsPerWrite/4; j++ {
		ts := b.recordTime(n, j)
		for k, m := range seedMeasures {
			v := strconv.FormatFloat(float64(n%100)+float64(k)+0.25, 'f', -1, 64)
			req.Records = append(req.Records, timestream.Record{MeasureName: m, MeasureValueType: "DOUBLE", MeasureValue: &v, Time: ts})
		}
	}
	body, err := json.Marshal(&req)
	if err != nil {
		return err
	}
	return b.post(ctx, b.base+"/v1/databases/"+db+"/tables/bench_native/records", "application/json", body)
}

func (b *awsBench) event(w, n, i int) []byte {
	t := b.start.Add(time.Duration(n*b.c.putBatch+i) * time.Millisecond)
	return fmt.Appendf(nil, `{"Time": %d, "DeviceID": "w%d", "temperature_measure": %d.5, "humidity_measure": 33.4, "voltage_measure": 55.6, "watt_measure": 777.8}`,
		t.UnixMilli(), w, n%40)
}

func (b *awsBench) putEntries(w, n int) []ktypes.PutRecordsRequestEntry {
	out := make([]ktypes.PutRecordsRequestEntry, b.c.putBatch)
	key := "w" + strconv.Itoa(w)
	for i := range out {
		out[i] = ktypes.PutRecordsRequestEntry{PartitionKey: &key, Data: b.event(w, n, i)}
	}
	return out
}

func (b *awsBench) nativeIngest(ctx context.Context, streamName string, w, n int) error {
	var body []byte
	for i := 0; i < b.c.putBatch; i++ {
		body = append(body, b.event(w, n+1_000_000, i)...)
		body = append(body, '\n')
	}
	return b.post(ctx, b.base+"/v1/streams/"+streamName+"/records", "application/x-ndjson", body)
}

func (b *awsBench) post(ctx context.Context, url, contentType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, msg)
	}
	return nil
}
