package auth

import (
	"bytes"
	"io"
	"strconv"
	"testing"
	"time"
)

// BenchmarkAuthenticate verifies a signed Kinesis PutRecords request (the
// AWS APIs' per-request cost).
//
//	go test ./internal/auth -run '^$' -bench Authenticate -benchmem
func BenchmarkAuthenticate(b *testing.B) {
	for _, size := range []int{256, 64 << 10} {
		b.Run("body="+fmtSize(size), func(b *testing.B) {
			s := testService(b, Options{})
			body := bytes.Repeat([]byte("x"), size)
			hdr := map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.PutRecords"}
			r := sdkSign(b, newReq(b, "POST", "http://localhost:7410/", body, hdr), body, testID, testSecret, "kinesis", "us-east-1", testNow.Add(-time.Minute), false)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := s.Authenticate(r, body); err != nil {
					b.Fatal(err)
				}
			}
			_, _ = io.Copy(io.Discard, r.Body)
		})
	}
}

func fmtSize(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
