package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hourlyCSV is two weeks of an hourly daily cycle with three spikes, with
// epoch-second times and a header.
func hourlyCSV() (string, []int) {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Unix()
	spikes := []int{40, 150, 300}
	for i := range 24 * 14 {
		v := 50 + 10*math.Sin(2*math.Pi*float64(i)/24) + 0.5*math.Sin(float64(i)*1.7)
		for _, s := range spikes {
			if i == s {
				v += 30
			}
		}
		fmt.Fprintf(&b, "%d,%.3f\n", t0+int64(i)*3600, v)
	}
	return b.String(), spikes
}

func TestInsightsCLI(t *testing.T) {
	in, spikes := hourlyCSV()
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		args     []string
		rows     int
		scored   bool
		check    func(t *testing.T, recs [][]string)
		wantErr  string
		wantCode error
	}{
		{name: "anomalies", args: []string{"anomalies", "--csv", "-"}, rows: 24 * 14, scored: true, check: func(t *testing.T, recs [][]string) {
			var flagged []int
			for i, r := range recs[1:] {
				if r[6] == "true" {
					flagged = append(flagged, i)
				}
			}
			for _, s := range spikes {
				found := false
				for _, f := range flagged {
					found = found || f == s
				}
				if !found {
					t.Errorf("spike at row %d not flagged (flagged %v)", s, flagged)
				}
			}
		}},
		{name: "forecast", args: []string{"forecast", "--csv", "-", "--horizon", "24", "--level", "80"}, rows: 24*14 + 24, check: func(t *testing.T, recs [][]string) {
			last := recs[len(recs)-1]
			if last[1] != "" || last[2] == "" || last[3] == "" || last[4] == "" || last[5] != "" || last[6] != "" {
				t.Errorf("horizon row %q: want empty value, score, is_anomaly and filled expected, lower, upper", last)
			}
			if recs[1][1] == "" {
				t.Errorf("fitted row %q has no value", recs[1])
			}
			if want := time.Date(2026, 11, 15, 23, 0, 0, 0, time.UTC).Format(time.RFC3339); last[0] != want {
				t.Errorf("last horizon time %s, want %s", last[0], want)
			}
		}},
		{name: "no horizon", args: []string{"forecast", "--csv", "-"}, wantErr: "--horizon"},
		{name: "bad sensitivity", args: []string{"anomalies", "--csv", "-", "--sensitivity", "loud"}, wantErr: "sensitivity"},
		{name: "bad model", args: []string{"forecast", "--csv", "-", "--horizon", "3", "--model", "oracle"}, wantErr: "oracle"},
		{name: "missing file", args: []string{"anomalies", "--csv", "/nonexistent/x.csv"}, wantErr: "no such file"},
		{name: "no kind", args: []string{}, wantCode: errUsage},
		{name: "no csv", args: []string{"anomalies"}, wantCode: errUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := runInsightsIO(ctx, tc.args, strings.NewReader(in), &out, &errb)
			switch {
			case tc.wantCode != nil:
				if err != tc.wantCode {
					t.Fatalf("err %v, want %v", err, tc.wantCode)
				}
				return
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("%v (stderr %s)", err, errb.String())
			}
			recs, err := csv.NewReader(&out).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(recs[0], ",") != "time,value,expected,lower,upper,score,is_anomaly" {
				t.Fatalf("header %q", recs[0])
			}
			if len(recs)-1 != tc.rows {
				t.Fatalf("%d rows, want %d", len(recs)-1, tc.rows)
			}
			if tc.check != nil {
				tc.check(t, recs)
			}
		})
	}
}

func TestInsightsCLIFiles(t *testing.T) {
	in, _ := hourlyCSV()
	dir := t.TempDir()
	src := filepath.Join(dir, "s.csv")
	if err := os.WriteFile(src, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "out.csv")
	var out, errb bytes.Buffer
	if err := runInsightsIO(context.Background(), []string{"anomalies", "--csv", src, "--out", dst}, nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("wrote %d bytes to stdout with --out", out.Len())
	}
	// The output is itself a series the commands read.
	if err := runInsightsIO(context.Background(), []string{"forecast", "--csv", dst, "--horizon", "2"}, nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	// A failing run leaves no file behind.
	bad := filepath.Join(dir, "bad.csv")
	_ = runInsightsIO(context.Background(), []string{"forecast", "--csv", src, "--horizon", "2", "--model", "oracle", "--out", bad}, nil, &out, &errb)
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files after a failed run: %v", names)
	}
}

func TestPlotCLI(t *testing.T) {
	in, spikes := hourlyCSV()
	dir := t.TempDir()
	src := filepath.Join(dir, "s.csv")
	if err := os.WriteFile(src, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("svg", func(t *testing.T) {
		dst := filepath.Join(dir, "p.svg")
		var out, errb bytes.Buffer
		if err := runPlotIO(context.Background(), []string{"--csv", src, "--horizon", "48", "--out", dst}, nil, &out, &errb); err != nil {
			t.Fatal(err, errb.String())
		}
		data, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		// Anomaly dots are filled circles in the anomaly colour (#D62728):
		// at least one per spike, plus the legend's.
		dots := strings.Count(string(data), "fill:#D62728")
		if dots < len(spikes)+1 {
			t.Errorf("%d anomaly dots, want >= %d", dots, len(spikes)+1)
		}
		for _, want := range []string{"95% interval", "forecast", "s.csv"} {
			if !strings.Contains(string(data), want) {
				t.Errorf("SVG lacks %q", want)
			}
		}
	})
	t.Run("png stdout", func(t *testing.T) {
		var out, errb bytes.Buffer
		if err := runPlotIO(context.Background(), []string{"--csv", "-", "--out", "-", "--format", "png", "--width", "500", "--height", "300"}, strings.NewReader(in), &out, &errb); err != nil {
			t.Fatal(err, errb.String())
		}
		img, err := png.Decode(&out)
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != 500 || b.Dy() != 300 {
			t.Fatalf("size %v", b)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"--csv", src, "--out", filepath.Join(dir, "p.gif")},
			{"--csv", src, "--out", "-"},
			{"--csv", src, "--out", filepath.Join(dir, "q.svg"), "--width", "5"},
		} {
			var out, errb bytes.Buffer
			if err := runPlotIO(context.Background(), args, nil, &out, &errb); err == nil {
				t.Errorf("%v: no error", args)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "q.svg")); !os.IsNotExist(err) {
			t.Errorf("a failed plot left q.svg behind")
		}
	})
}
