package event_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/event"
	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/*.txt expectations with the actual output")

// defaultArrival is 14 minutes after the seed event's time, so the seed
// event is not corrected.
var defaultArrival = time.Unix(0, 1609757175225499000).Add(14 * time.Minute)

// ddCase is one case of a testdata file:
//
//	command [key=value ...]
//	input (one or more lines)
//	----
//	expected output (up to a blank line)
//
// Lines starting with # between cases are comments.
type ddCase struct {
	line  int
	cmd   string
	args  map[string]string
	input string
	want  string
	// position of the expected block in the file, for -rewrite
	wantStart, wantEnd int
}

func parseDD(t *testing.T, path string) ([]string, []ddCase) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	var cases []ddCase
	for i := 0; i < len(lines); {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			i++
			continue
		}
		c := ddCase{line: i + 1, args: map[string]string{}}
		words := strings.Fields(l)
		c.cmd = words[0]
		for _, w := range words[1:] {
			k, v, _ := strings.Cut(w, "=")
			c.args[k] = v
		}
		i++
		var in []string
		for i < len(lines) && lines[i] != "----" {
			in = append(in, lines[i])
			i++
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: no ---- line", path, c.line)
		}
		i++
		c.input = strings.Join(in, "\n")
		c.wantStart = i
		var want []string
		for i < len(lines) && lines[i] != "" {
			want = append(want, lines[i])
			i++
		}
		c.wantEnd = i
		c.want = strings.Join(want, "\n")
		cases = append(cases, c)
	}
	return lines, cases
}

func TestDataDriven(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			lines, cases := parseDD(t, path)
			got := make([]string, len(cases))
			for i, c := range cases {
				got[i] = runDD(t, c)
				if !*rewrite && got[i] != c.want {
					t.Errorf("%s:%d: %s\n%s\ngot:\n%s\nwant:\n%s", path, c.line, c.cmd, c.input, got[i], c.want)
				}
			}
			if *rewrite {
				var out []string
				prev := 0
				for i, c := range cases {
					out = append(out, lines[prev:c.wantStart]...)
					out = append(out, got[i])
					prev = c.wantEnd
				}
				out = append(out, lines[prev:]...)
				if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func runDD(t *testing.T, c ddCase) string {
	t.Helper()
	switch c.cmd {
	case "decode":
		fields, err := event.Decode(nil, []byte(c.input))
		if err != nil {
			return "error: " + err.Error()
		}
		var b strings.Builder
		for _, f := range fields {
			fmt.Fprintf(&b, "%q %s %q\n", f.Key, f.Kind, f.Value)
		}
		if len(fields) == 0 {
			return "(no fields)"
		}
		return strings.TrimSuffix(b.String(), "\n")
	case "map":
		var opts event.Options
		var err error
		if v, ok := c.args["mode"]; ok {
			if opts.Mode, err = event.ParseMode(v); err != nil {
				t.Fatalf("line %d: %v", c.line, err)
			}
		}
		opts.MultiMeasureName = c.args["name"]
		if v, ok := c.args["future"]; ok {
			if opts.FutureThreshold, err = time.ParseDuration(v); err != nil {
				t.Fatalf("line %d: %v", c.line, err)
			}
		}
		arrival := defaultArrival
		if v, ok := c.args["arrival"]; ok {
			if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
				arrival = time.Unix(0, ns)
			} else if arrival, err = time.Parse(time.RFC3339Nano, v); err != nil {
				t.Fatalf("line %d: arrival: %v", c.line, err)
			}
		}
		var extra []stream.Attr
		if v, ok := c.args["extra"]; ok {
			for _, kv := range strings.Split(v, ",") {
				k, v, _ := strings.Cut(kv, ":")
				extra = append(extra, stream.Attr{Name: k, Value: v})
			}
		}
		m, err := event.NewMapper(opts)
		if err != nil {
			return "options error: " + err.Error()
		}
		recs, corr, err := m.Map(nil, []byte(c.input), arrival, extra)
		if err != nil {
			return "error: " + err.Error()
		}
		return formatRecords(recs, corr)
	}
	t.Fatalf("line %d: unknown command %q", c.line, c.cmd)
	return ""
}

func formatDims(d []tsdb.Dimension) string {
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = fmt.Sprintf("%s=%q", x.Name, x.Value)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func formatValue(v tsdb.Value) string {
	if v.Type.String() == "VARCHAR" {
		return fmt.Sprintf("VARCHAR:%q", v.S)
	}
	return v.Type.String() + ":" + v.String()
}

func formatRecords(recs []tsdb.Record, corr *event.Correction) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "time=%d %s name=%s", r.Time, formatDims(r.Dimensions), r.MeasureName)
		if r.Multi != nil {
			for _, mv := range r.Multi {
				fmt.Fprintf(&b, " %s=%s", mv.Name, formatValue(mv.Value))
			}
		} else {
			fmt.Fprintf(&b, " value=%s", formatValue(r.Value))
		}
		b.WriteByte('\n')
	}
	if corr != nil {
		fmt.Fprintf(&b, "correction original=%d corrected=%d %s\n", corr.Original, corr.Corrected, formatDims(corr.Dimensions))
	}
	return strings.TrimSuffix(b.String(), "\n")
}
