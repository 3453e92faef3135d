// Package aws drives a real sluice server (internal/app, in process, on a
// temporary data directory) with the official aws-sdk-go-v2 clients for
// Kinesis, Timestream Write and Timestream Query, pointed at it through
// BaseEndpoint: endpoint discovery and SigV4 signing run as against AWS.
package aws

import (
	"context"
	"errors"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/timestreamquery"
	"github.com/aws/aws-sdk-go-v2/service/timestreamwrite"
	"github.com/aws/smithy-go"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/config"
)

func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MQTTAddr = ""
	cfg.PGAddr = ""
	return cfg
}

// clients are the three SDK clients of one server and key pair.
type clients struct {
	kin   *kinesis.Client
	write *timestreamwrite.Client
	query *timestreamquery.Client
}

func newClients(addr, keyID, secret string) clients {
	cfg := sdkaws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		// Fail fast in tests: no retries of throttling or 5xx. Broken
		// connections are retried as by the SDK's default retryer: the
		// SDK's transport can close its own connection while a fast
		// server's response is being read (aws/aws-sdk-go-v2#1825, #2949).
		Retryer: func() sdkaws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Retryables = []retry.IsErrorRetryable{retry.NoRetryCanceledError{}, retry.RetryableConnectionError{}}
			})
		},
	}
	base := sdkaws.String("http://" + addr)
	return clients{
		kin:   kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.BaseEndpoint = base }),
		write: timestreamwrite.NewFromConfig(cfg, func(o *timestreamwrite.Options) { o.BaseEndpoint = base }),
		query: timestreamquery.NewFromConfig(cfg, func(o *timestreamquery.Options) { o.BaseEndpoint = base }),
	}
}

// awsRequests sums sluice_aws_requests_total for one operation and error
// code ("" = successes).
func awsRequests(t *testing.T, a *app.App, operation, code string) float64 {
	t.Helper()
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "sluice_aws_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["operation"] == operation && labels["error"] == code {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, last)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func errCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "no code: " + err.Error()
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
