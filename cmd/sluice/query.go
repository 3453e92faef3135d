package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"
)

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:7410", "server")
	format := fs.String("format", "table", "output: table, csv or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, `usage: sluice query [--url URL] [--format table|csv|json] "SQL"`)
		return errUsage
	}
	body, _ := json.Marshal(map[string]any{"sql": fs.Arg(0)})
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(*url, "/")+"/v1/query", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var res struct {
		Columns []struct{ Name, Type string }
		Rows    [][]any
		Error   *struct{ Code, Message string }
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("server answered %s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	if res.Error != nil {
		return fmt.Errorf("%s: %s", res.Error.Code, res.Error.Message)
	}
	switch *format {
	case "json":
		_, err = stdout.Write(raw)
		return err
	case "csv":
		w := csv.NewWriter(stdout)
		var hdr []string
		for _, c := range res.Columns {
			hdr = append(hdr, c.Name)
		}
		w.Write(hdr)
		for _, r := range res.Rows {
			w.Write(cells(r))
		}
		w.Flush()
		return w.Error()
	case "table":
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		var hdr []string
		for _, c := range res.Columns {
			hdr = append(hdr, c.Name)
		}
		fmt.Fprintln(w, strings.Join(hdr, "\t"))
		for _, r := range res.Rows {
			fmt.Fprintln(w, strings.Join(cells(r), "\t"))
		}
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "(%d rows)\n", len(res.Rows))
		return nil
	}
	return fmt.Errorf("--format %q: want table, csv or json", *format)
}

func cells(r []any) []string {
	out := make([]string, len(r))
	for i, v := range r {
		switch v := v.(type) {
		case nil:
			out[i] = "NULL"
		case string:
			out[i] = v
		default:
			b, _ := json.Marshal(v)
			out[i] = string(b)
		}
	}
	return out
}
