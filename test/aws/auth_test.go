package aws

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/timestreamquery"
	"github.com/aws/aws-sdk-go-v2/service/timestreamwrite"
	wtypes "github.com/aws/aws-sdk-go-v2/service/timestreamwrite/types"

	"github.com/sluice-dev/sluice/internal/apptest"
)

// The seed's IAM statements as sluice key policies: the Flink job's role
// (read the stream, discover endpoints, write one table) and Grafana's
// (describe, select, list).
const keysYAML = `
keys:
  - access_key_id: AKIDFLINK
    secret_access_key: flinksecret
    description: the seed's analytics application
    policy:
      Version: "2012-10-17"
      Statement:
        - Sid: ReadInputStream
          Effect: Allow
          Action: ["kinesis:Get*", "kinesis:DescribeStreamSummary"]
          Resource: ["arn:aws:kinesis:*:*:stream/events"]
        - Sid: DescribeTimestreamEndpoints
          Effect: Allow
          Action: ["timestream:DescribeEndpoints"]
          Resource: ["*"]
        - Sid: WriteTimestream
          Effect: Allow
          Action: ["timestream:WriteRecords"]
          Resource: ["arn:aws:timestream:*:*:database/iot/table/telemetry"]
  - access_key_id: AKIDGRAFANA
    secret_access_key: grafanasecret
    description: the seed's Grafana task role
    policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: ["timestream:Describe*", "timestream:Select", "timestream:SelectValues", "timestream:List*"]
          Resource: ["*"]
`

// TestSigV4AndPolicies runs the SDKs against a server with keys: real
// SigV4 verification (internal/auth) and per-key policies, bad and missing
// signatures refused with AWS's error codes.
func TestSigV4AndPolicies(t *testing.T) {
	cfg := testConfig(t)
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(keys, []byte(keysYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.KeysFile = keys
	cfg.AWSAccessKeyID, cfg.AWSSecretAccessKey = "AKIDADMIN", "adminsecret"
	a := apptest.Start(t, cfg)
	ctx := ctxT(t)
	admin := newClients(a.HTTPAddr(), "AKIDADMIN", "adminsecret")
	flink := newClients(a.HTTPAddr(), "AKIDFLINK", "flinksecret")
	grafana := newClients(a.HTTPAddr(), "AKIDGRAFANA", "grafanasecret")
	wrong := newClients(a.HTTPAddr(), "AKIDFLINK", "not-the-secret")
	unknown := newClients(a.HTTPAddr(), "AKIDNOBODY", "whatever")

	now := ms(time.Now().Add(-time.Minute))
	rec := []wtypes.Record{{MeasureName: sdkaws.String("temperature"), MeasureValue: sdkaws.String("21.5"), Time: &now,
		Dimensions: []wtypes.Dimension{{Name: sdkaws.String("DeviceID"), Value: sdkaws.String("d-1")}}}}
	write := func(c clients, table string) error {
		_, err := c.write.WriteRecords(ctx, &timestreamwrite.WriteRecordsInput{DatabaseName: sdkaws.String("iot"), TableName: &table, Records: rec})
		return err
	}
	put := func(c clients) error {
		_, err := c.kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: sdkaws.String("events"),
			Records: []ktypes.PutRecordsRequestEntry{{PartitionKey: sdkaws.String("d-1"), Data: []byte(`{"DeviceID":"d-1","temperature_measure":1}`)}}})
		return err
	}
	query := func(c clients, sql string) error {
		_, err := c.query.Query(ctx, &timestreamquery.QueryInput{QueryString: &sql})
		return err
	}
	if _, err := admin.write.CreateTable(ctx, &timestreamwrite.CreateTableInput{DatabaseName: sdkaws.String("iot"), TableName: sdkaws.String("other")}); err != nil {
		t.Fatalf("admin CreateTable: %v", err)
	}

	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"admin puts records", put(admin), ""},
		{"flink writes its table", write(flink, "telemetry"), ""},
		{"flink may not write another table", write(flink, "other"), "AccessDeniedException"},
		{"flink may not put records", put(flink), "AccessDeniedException"},
		{"flink may not query", query(flink, "SELECT 1"), "AccessDeniedException"},
		{"grafana queries", query(grafana, `SELECT count(*) FROM "iot"."telemetry"`), ""},
		{"grafana lists tables", func() error {
			_, err := grafana.write.ListTables(ctx, &timestreamwrite.ListTablesInput{DatabaseName: sdkaws.String("iot")})
			return err
		}(), ""},
		{"grafana may not write", write(grafana, "telemetry"), "AccessDeniedException"},
		{"grafana may not create streams", func() error {
			_, err := grafana.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: sdkaws.String("x"), ShardCount: sdkaws.Int32(1)})
			return err
		}(), "AccessDeniedException"},
		{"wrong secret", write(wrong, "telemetry"), "InvalidSignatureException"},
		{"wrong secret on Kinesis", put(wrong), "InvalidSignatureException"},
		{"unknown key", query(unknown, "SELECT 1"), "UnrecognizedClientException"},
	} {
		if got := errCode(tc.err); got != tc.want {
			t.Errorf("%s: got %q (%v), want %q", tc.name, got, tc.err, tc.want)
		}
	}

	// Flink's role reads the stream it may read.
	sid := "shardId-000000000000"
	it, err := flink.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: sdkaws.String("events"), ShardId: &sid, ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatalf("flink GetShardIterator: %v", err)
	}
	out, err := flink.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil || len(out.Records) != 1 {
		t.Fatalf("flink GetRecords: %v %+v", err, out)
	}
	if _, err := grafana.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator}); errCode(err) != "AccessDeniedException" {
		t.Errorf("grafana GetRecords with flink's iterator: %v", err)
	}

	// No signature at all: MissingAuthenticationTokenException, in the AWS
	// error shape with the request id.
	for _, target := range []string{"Timestream_20181101.DescribeEndpoints", "Kinesis_20131202.ListStreams"} {
		req, _ := http.NewRequest("POST", "http://"+a.HTTPAddr()+"/", bytes.NewReader([]byte("{}")))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if typ, _ := body["__type"].(string); resp.StatusCode < 400 || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" ||
			resp.Header.Get("x-amzn-RequestId") == "" || !bytes.HasSuffix([]byte(typ), []byte("MissingAuthenticationTokenException")) {
			t.Errorf("%s unsigned: %d %v %v", target, resp.StatusCode, resp.Header, body)
		}
	}
}
