package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/lake"
)

// runLake is `sluice lake SUBCOMMAND`; the one subcommand is infer, the
// Glue crawler's job: read a sample of the files under a location and
// print the CREATE EXTERNAL TABLE statement for them (and, with --create,
// create the table on a running server).
func runLake(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "infer" {
		fmt.Fprintln(stderr, "usage: sluice lake infer --location DIR [--create db.table] [--url URL] [--lake-dir DIR]")
		return errUsage
	}
	fs := flag.NewFlagSet("sluice lake infer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	location := fs.String("location", "", "directory holding the files: a path, file:// URL, or s3://bucket/prefix (read from --lake-dir/bucket/prefix)")
	lakeDir := fs.String("lake-dir", "sluice-data/lake", "lake root, for s3:// and relative locations")
	create := fs.String("create", "", "create the table db.table on the server at --url (its database too, if missing)")
	name := fs.String("table", "", "db.table to name in the printed statement (default: --create's, else lake.inferred)")
	url := fs.String("url", "http://127.0.0.1:7410", "server, for --create")
	maxFiles := fs.Int("max-files", 50, "files sampled")
	maxRows := fs.Int("max-rows", 1000, "lines read per file")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return err
	}
	if *location == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: sluice lake infer --location DIR [--create db.table] [--url URL] [--lake-dir DIR]")
		return errUsage
	}
	loc := *location
	if !strings.Contains(loc, "://") && !filepath.IsAbs(loc) {
		// A local path is relative to here, not to the server's lake root.
		abs, err := filepath.Abs(loc)
		if err != nil {
			return err
		}
		loc = abs
	}
	qualified := *name
	if qualified == "" {
		qualified = *create
	}
	if qualified == "" {
		qualified = "lake.inferred"
	}
	db, table, ok := strings.Cut(qualified, ".")
	if !ok || db == "" || table == "" {
		return fmt.Errorf("table name %q: write database.table", qualified)
	}
	def, err := lake.Infer(ctx, lake.InferOptions{Root: *lakeDir, Location: loc, Database: db, Table: table, MaxFiles: *maxFiles, MaxRows: *maxRows})
	if err != nil {
		return err
	}
	ddl := def.DDL()
	fmt.Fprintln(stdout, ddl+";")
	if *create == "" {
		return nil
	}
	for _, sql := range []string{`CREATE DATABASE IF NOT EXISTS "` + def.Database + `"`, ddl} {
		if err := postSQL(ctx, *url, sql); err != nil {
			return fmt.Errorf("creating %s.%s: %w", def.Database, def.Name, err)
		}
	}
	fmt.Fprintf(stderr, "created %s.%s\n", def.Database, def.Name)
	return nil
}

// postSQL runs one statement on the server and returns its error, if any.
func postSQL(ctx context.Context, url, sql string) error {
	body, _ := json.Marshal(map[string]any{"sql": sql})
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(url, "/")+"/v1/query", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var res struct {
		Error *struct{ Code, Message string }
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("server answered %s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	if res.Error != nil {
		return fmt.Errorf("%s: %s", res.Error.Code, res.Error.Message)
	}
	return nil
}
