package lake

// Schema inference, the Glue crawler's job: sample files under a location,
// take the union of the keys of JSON Lines objects (case-insensitively, in
// order of first appearance) with the narrowest Hive type that holds every
// value seen, and turn Hive-style key=value directories into partition
// columns. Parquet files give their own schema; CSV files with a header row
// give column names from it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// InferOptions say where to look and how much to read.
type InferOptions struct {
	Root     string // lake root for relative and s3:// locations
	Location string // as a LOCATION clause would give it
	Database string // for the returned definition
	Table    string
	MaxFiles int // files sampled; 0 = 50
	MaxRows  int // lines read per file; 0 = 1000
}

// Infer samples the files under opts.Location and returns a table
// definition for them. An empty location is an error: there is nothing to
// infer from.
func Infer(ctx context.Context, opts InferOptions) (TableDef, error) {
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = 50
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = 1000
	}
	def := TableDef{Database: strings.ToLower(opts.Database), Name: strings.ToLower(opts.Table), Location: opts.Location}
	dir, err := ResolveLocation(opts.Root, opts.Location)
	if err != nil {
		return def, err
	}
	// List every file, noting key=value directories on the way.
	var files []string
	var partKeys []string
	partVals := map[string][]string{}
	var walk func(d string, depth int) error
	walk = func(d string, depth int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			return fmt.Errorf("lake: listing %s: %w", d, err)
		}
		for _, e := range ents {
			if hiddenName(e.Name()) {
				continue
			}
			p := filepath.Join(d, e.Name())
			if e.IsDir() {
				if k, v, ok := strings.Cut(e.Name(), "="); ok && k != "" {
					k = strings.ToLower(k)
					if _, seen := partVals[k]; !seen {
						partKeys = append(partKeys, k)
					}
					partVals[k] = append(partVals[k], unescapePartValue(v))
				}
				if err := walk(p, depth+1); err != nil {
					return err
				}
				continue
			}
			if e.Type().IsRegular() {
				files = append(files, p)
			}
		}
		return nil
	}
	if err := walk(dir, 0); err != nil {
		return def, err
	}
	if len(files) == 0 {
		return def, fmt.Errorf("lake: no files under %s to infer a schema from", dir)
	}
	sort.Strings(files)
	sample := files
	if len(files) > opts.MaxFiles {
		// Spread the sample over the whole listing (old and new partitions).
		sample = nil
		for i := range opts.MaxFiles {
			sample = append(sample, files[i*len(files)/opts.MaxFiles])
		}
	}
	inf := &inferrer{types: map[string]string{}}
	for _, p := range sample {
		if err := ctx.Err(); err != nil {
			return def, err
		}
		if err := inf.file(p, opts.MaxRows); err != nil {
			return def, err
		}
	}
	if inf.format == "" {
		return def, fmt.Errorf("lake: found no JSON, CSV or Parquet records under %s", dir)
	}
	def.Format = inf.format
	switch def.Format {
	case TableJSON:
		def.SerDe = SerDeOpenXJSON
	case TableCSV:
		def.Separator, def.Quote, def.Escape, def.SkipHeader = string(inf.sep), `"`, `\`, 1
	case TableParquet:
		def.SerDe = SerDeParquetHive
	}
	isPart := map[string]bool{}
	for _, k := range partKeys {
		isPart[k] = true
		typ := "int"
		for _, v := range partVals[k] {
			if _, err := strconv.ParseInt(v, 10, 32); err != nil {
				typ = "string"
				break
			}
		}
		def.PartitionBy = append(def.PartitionBy, TableColumn{Name: k, HiveType: typ})
	}
	for _, k := range inf.order {
		if isPart[k] {
			continue // a key that is also a partition: the directory wins
		}
		t := inf.types[k]
		if t == "" {
			t = "string"
		}
		def.Columns = append(def.Columns, TableColumn{Name: k, HiveType: t})
	}
	if def.Database != "" && def.Name != "" {
		if err := def.Validate(); err != nil {
			return def, err
		}
	}
	return def, nil
}

type inferrer struct {
	format TableFormat
	order  []string
	types  map[string]string // "" = only NULLs so far
	sep    byte
}

func (f *inferrer) see(key, typ string) {
	key = strings.ToLower(key)
	cur, ok := f.types[key]
	if !ok {
		f.order = append(f.order, key)
	}
	f.types[key] = widenHive(cur, typ)
}

// widenHive returns the narrowest type holding values of types a and b.
func widenHive(a, b string) string {
	switch {
	case a == "" || a == b:
		return b
	case b == "":
		return a
	case (a == "bigint" && b == "double") || (a == "double" && b == "bigint"):
		return "double"
	}
	return "string"
}

func (f *inferrer) file(path string, maxRows int) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("lake: opening %s: %w", path, err)
	}
	defer fh.Close()
	var magic [4]byte
	n, _ := io.ReadFull(fh, magic[:])
	if n == 4 && string(magic[:]) == "PAR1" {
		return f.parquetFile(fh, path)
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return err
	}
	var r io.Reader = fh
	if n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		t := &Table{stats: &statCounters{}, bufs: &scanBufs{}}
		rc, err := t.openText(fileTask{path: path})
		if err != nil || rc == nil {
			return err
		}
		defer rc.Close()
		r = rc
	}
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := br.Peek(1)
	for err == nil && len(first) == 1 && (first[0] == ' ' || first[0] == '\n' || first[0] == '\r' || first[0] == '\t') {
		br.ReadByte()
		first, err = br.Peek(1)
	}
	if len(first) == 0 {
		return nil // empty file
	}
	if first[0] == '{' {
		return f.jsonFile(br, path, maxRows)
	}
	return f.csvFile(br, path, maxRows)
}

func (f *inferrer) setFormat(t TableFormat, path string) error {
	if f.format != "" && f.format != t {
		return fmt.Errorf("lake: %s is %s but other files are %s; one table holds one format", path, t, f.format)
	}
	f.format = t
	return nil
}

func (f *inferrer) jsonFile(br *bufio.Reader, path string, maxRows int) error {
	if err := f.setFormat(TableJSON, path); err != nil {
		return err
	}
	for rows := 0; rows < maxRows; {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A very long line: read the rest of it.
			rest, err2 := br.ReadBytes('\n')
			line = append(append([]byte(nil), line...), rest...)
			err = err2
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			rows++
			f.jsonLine(t)
		}
		if err != nil {
			break
		}
	}
	return nil
}

func (f *inferrer) jsonLine(line []byte) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if dec.Decode(&obj) != nil {
		return // malformed lines say nothing about the schema
	}
	// Keys in the order they appear in the line, so columns come out in
	// the events' own order.
	keys := orderedKeys(line)
	if len(keys) != len(obj) {
		keys = keys[:0]
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	}
	for _, k := range keys {
		v, ok := obj[k]
		if !ok {
			continue
		}
		f.see(k, jsonHiveType(v))
	}
}

// orderedKeys returns the top-level keys of a JSON object in source order.
func orderedKeys(line []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return nil
		}
	}
	return keys
}

func jsonHiveType(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case bool:
		return "boolean"
	case json.Number:
		if _, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return "bigint"
		}
		return "double"
	case string:
		return "string"
	}
	return "string" // objects and arrays read as their JSON text
}

func (f *inferrer) csvFile(br *bufio.Reader, path string, maxRows int) error {
	if err := f.setFormat(TableCSV, path); err != nil {
		return err
	}
	header, err := br.ReadString('\n')
	if err != nil && header == "" {
		return nil
	}
	header = strings.TrimRight(header, "\r\n")
	if f.sep == 0 {
		f.sep = ','
		for _, c := range []byte{'\t', ';', '|'} {
			if strings.Count(header, string(c)) > strings.Count(header, string(f.sep)) {
				f.sep = c
			}
		}
	}
	var names []string
	for _, h := range strings.Split(header, string(f.sep)) {
		names = append(names, strings.ToLower(strings.Trim(strings.TrimSpace(h), `"`)))
	}
	for _, n := range names {
		f.see(n, "")
	}
	for rows := 0; rows < maxRows; rows++ {
		line, err := br.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line != "" {
			for i, v := range strings.Split(line, string(f.sep)) {
				if i < len(names) {
					f.see(names[i], csvHiveType(strings.Trim(strings.TrimSpace(v), `"`)))
				}
			}
		}
		if err != nil {
			break
		}
	}
	return nil
}

func csvHiveType(v string) string {
	if v == "" {
		return ""
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return "bigint"
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return "double"
	}
	if v == "true" || v == "false" {
		return "boolean"
	}
	return "string"
}

func (f *inferrer) parquetFile(fh *os.File, path string) error {
	if err := f.setFormat(TableParquet, path); err != nil {
		return err
	}
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	pf, err := openParquet(fh, st.Size())
	if err != nil {
		return fmt.Errorf("lake: reading %s: %w", path, err)
	}
	schema := pf.Schema()
	for _, p := range schema.Columns() {
		if len(p) != 1 {
			continue
		}
		lc, ok := schema.Lookup(p...)
		if !ok || lc.MaxRepetitionLevel != 0 {
			continue
		}
		l := pqLeaf{kind: lc.Node.Type().Kind()}
		typ := "string"
		switch l.kind.String() {
		case "BOOLEAN":
			typ = "boolean"
		case "INT32":
			typ = "int"
		case "INT64":
			typ = "bigint"
		case "FLOAT", "DOUBLE":
			typ = "double"
		case "INT96":
			typ = "timestamp"
		}
		if lt := lc.Node.Type().LogicalType(); lt != nil {
			s := strings.ToUpper(lt.String())
			switch {
			case strings.HasPrefix(s, "TIMESTAMP"):
				typ = "timestamp"
			case strings.HasPrefix(s, "DATE"):
				typ = "date"
			}
		}
		f.see(p[0], typ)
	}
	return nil
}
