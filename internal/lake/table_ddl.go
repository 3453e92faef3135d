package lake

// Athena/Hive DDL for lake tables: turning a parsed CREATE EXTERNAL TABLE
// into a TableDef (ROW FORMAT and STORED AS arrive as raw text and are
// read here), and printing a TableDef back as DDL.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice-dev/sluice/internal/sql/parse"
)

// Serde class names Athena documents.
const (
	SerDeOpenXJSON   = "org.openx.data.jsonserde.JsonSerDe"
	SerDeHiveJSON    = "org.apache.hive.hcatalog.data.JsonSerDe"
	SerDeOpenCSV     = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
	SerDeLazySimple  = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
	SerDeParquetHive = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
)

// DefFromCreate builds a table definition from CREATE EXTERNAL TABLE.
// defaultDB is used when the statement names no database.
func DefFromCreate(c *parse.CreateExternalTable, defaultDB string) (TableDef, error) {
	def := TableDef{Database: defaultDB, Name: strings.ToLower(c.Table.Name.Name)}
	if len(c.Table.Qualifier) > 1 {
		return def, fmt.Errorf("table name %s has too many parts; write database.table", c.Table.String())
	}
	if len(c.Table.Qualifier) == 1 {
		def.Database = c.Table.Qualifier[0].Name
	}
	def.Database = strings.ToLower(def.Database)
	if def.Database == "" {
		return def, fmt.Errorf("table %s needs a database: write database.table", def.Name)
	}
	for _, col := range c.Columns {
		def.Columns = append(def.Columns, TableColumn{Name: strings.ToLower(col.Name.Name), HiveType: strings.ToLower(col.Type)})
	}
	for _, col := range c.PartitionBy {
		def.PartitionBy = append(def.PartitionBy, TableColumn{Name: strings.ToLower(col.Name.Name), HiveType: strings.ToLower(col.Type)})
	}
	if c.Comment != nil {
		def.Comment = c.Comment.Value
	}
	if c.Location != nil {
		def.Location = c.Location.Value
	}
	props := map[string]string{}
	for _, p := range c.Properties {
		props[strings.ToLower(p.Key)] = p.Value
	}
	if len(props) > 0 {
		def.Properties = props
	}
	rf, err := ParseRowFormat(c.RowFormat)
	if err != nil {
		return def, err
	}
	stored := strings.ToLower(strings.Join(strings.Fields(c.StoredAs), " "))
	def.SerDe = rf.SerDe
	def.SerDeProperties = rf.Properties
	sp := func(k string) (string, bool) {
		for kk, v := range rf.Properties {
			if strings.EqualFold(kk, k) {
				return v, true
			}
		}
		return "", false
	}
	serde := strings.ToLower(rf.SerDe)
	switch {
	case strings.Contains(stored, "orc") || strings.Contains(stored, "avro") || strings.Contains(stored, "ion") || strings.Contains(serde, "orc") || strings.Contains(serde, "avro"):
		return def, fmt.Errorf("STORED AS %s is not supported (lake tables read JSON Lines, CSV and Parquet)", c.StoredAs)
	case strings.Contains(stored, "parquet") || strings.Contains(serde, "parquet"):
		def.Format = TableParquet
	case strings.Contains(serde, "json") || strings.Contains(stored, "jsonfile"):
		def.Format = TableJSON
	case strings.Contains(serde, "opencsv"):
		def.Format = TableCSV
		def.Separator, def.Quote, def.Escape = ",", `"`, `\`
		if v, ok := sp("separatorChar"); ok {
			def.Separator = v
		}
		if v, ok := sp("quoteChar"); ok {
			def.Quote = v
		}
		if v, ok := sp("escapeChar"); ok {
			def.Escape = v
		}
	case rf.SerDe == "" && !rf.Delimited && stored != "" && stored != "textfile" && !strings.Contains(stored, "textinputformat"):
		return def, fmt.Errorf("STORED AS %s is not supported (lake tables read JSON Lines, CSV and Parquet)", c.StoredAs)
	default:
		// LazySimpleSerDe: ROW FORMAT DELIMITED, an explicit LazySimpleSerDe
		// or no ROW FORMAT at all (Hive's default text format, fields
		// separated by \001).
		def.Format = TableCSV
		def.Separator = "\x01"
		def.NullFormat = `\N`
		if rf.FieldSep != "" {
			def.Separator = rf.FieldSep
		}
		if v, ok := sp("field.delim"); ok {
			def.Separator = v
		} else if v, ok := sp("separatorChar"); ok {
			def.Separator = v
		}
		def.Escape = rf.Escape
		if v, ok := sp("escape.delim"); ok {
			def.Escape = v
		}
		if rf.NullDefined {
			def.NullFormat = rf.NullDefinedAs
		}
	}
	if v, ok := sp("serialization.null.format"); ok && def.Format == TableCSV {
		def.NullFormat = v
	}
	if v, ok := props["serialization.null.format"]; ok && def.Format == TableCSV {
		def.NullFormat = v
	}
	if v, ok := props["skip.header.line.count"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return def, fmt.Errorf("skip.header.line.count %q is not a count", v)
		}
		def.SkipHeader = n
	}
	if err := def.Validate(); err != nil {
		return def, err
	}
	return def, nil
}

// RowFormat is a parsed ROW FORMAT clause.
type RowFormat struct {
	SerDe         string            // class name after SERDE
	Properties    map[string]string // WITH SERDEPROPERTIES
	Delimited     bool              // ROW FORMAT DELIMITED
	FieldSep      string            // FIELDS TERMINATED BY
	Escape        string            // ESCAPED BY
	LineSep       string            // LINES TERMINATED BY
	NullDefinedAs string            // NULL DEFINED AS
	NullDefined   bool              // NULL DEFINED AS was given (its text may be empty)
}

// ParseRowFormat reads the text after ROW FORMAT:
//
//	SERDE 'class' [WITH SERDEPROPERTIES ('k' = 'v', …)]
//	DELIMITED [FIELDS TERMINATED BY 'c' [ESCAPED BY 'c']]
//	  [COLLECTION ITEMS TERMINATED BY 'c'] [MAP KEYS TERMINATED BY 'c']
//	  [LINES TERMINATED BY 'c'] [NULL DEFINED AS 'c']
//
// String literals take Hive's backslash escapes ('\t', '\001', '\\').
func ParseRowFormat(text string) (RowFormat, error) {
	var rf RowFormat
	if strings.TrimSpace(text) == "" {
		return rf, nil
	}
	toks, err := ddlTokens(text)
	if err != nil {
		return rf, fmt.Errorf("ROW FORMAT: %w", err)
	}
	i := 0
	word := func(w string) bool {
		if i < len(toks) && !toks[i].str && strings.EqualFold(toks[i].text, w) {
			i++
			return true
		}
		return false
	}
	str := func(what string) (string, error) {
		if i < len(toks) && toks[i].str {
			i++
			return toks[i-1].text, nil
		}
		return "", fmt.Errorf("ROW FORMAT: expected a string for %s", what)
	}
	words := func(ws ...string) bool {
		save := i
		for _, w := range ws {
			if !word(w) {
				i = save
				return false
			}
		}
		return true
	}
	switch {
	case word("serde"):
		if rf.SerDe, err = str("SERDE"); err != nil {
			return rf, err
		}
		if words("with", "serdeproperties") {
			rf.Properties = map[string]string{}
			if !word("(") {
				return rf, fmt.Errorf("ROW FORMAT: expected ( after SERDEPROPERTIES")
			}
			for !word(")") {
				k, err := str("a property name")
				if err != nil {
					return rf, err
				}
				if !word("=") {
					return rf, fmt.Errorf("ROW FORMAT: expected = after %q", k)
				}
				v, err := str("a property value")
				if err != nil {
					return rf, err
				}
				rf.Properties[k] = v
				word(",")
				if i >= len(toks) {
					return rf, fmt.Errorf("ROW FORMAT: unclosed SERDEPROPERTIES")
				}
			}
		}
	case word("delimited"):
		rf.Delimited = true
		for i < len(toks) {
			var dst *string
			switch {
			case words("fields", "terminated", "by"):
				dst = &rf.FieldSep
			case words("escaped", "by"):
				dst = &rf.Escape
			case words("collection", "items", "terminated", "by"), words("map", "keys", "terminated", "by"):
				var ignore string
				dst = &ignore
			case words("lines", "terminated", "by"):
				dst = &rf.LineSep
			case words("null", "defined", "as"):
				dst = &rf.NullDefinedAs
				rf.NullDefined = true
			default:
				return rf, fmt.Errorf("ROW FORMAT DELIMITED: unexpected %q", toks[i].text)
			}
			if *dst, err = str("DELIMITED"); err != nil {
				return rf, err
			}
		}
		if rf.LineSep != "" && rf.LineSep != "\n" {
			return rf, fmt.Errorf("ROW FORMAT DELIMITED: only LINES TERMINATED BY '\\n' is supported")
		}
	default:
		return rf, fmt.Errorf("ROW FORMAT: expected SERDE or DELIMITED")
	}
	if i != len(toks) {
		return rf, fmt.Errorf("ROW FORMAT: unexpected %q", toks[i].text)
	}
	return rf, nil
}

type ddlToken struct {
	text string
	str  bool
}

// ddlTokens splits ROW FORMAT text into words, punctuation and string
// literals ('…' or "…", Hive escapes unescaped, ” doubled quotes kept as
// the SQL lexer accepted them).
func ddlTokens(s string) ([]ddlToken, error) {
	var out []ddlToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated string")
				}
				if s[j] == '\\' && j+1 < len(s) {
					b.WriteString(s[j : j+2])
					j += 2
					continue
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						b.WriteByte(c)
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, ddlToken{text: hiveUnescape(b.String()), str: true})
			i = j + 1
		case c == '(' || c == ')' || c == ',' || c == '=':
			out = append(out, ddlToken{text: string(c)})
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r'\"(),=", rune(s[j])) {
				j++
			}
			out = append(out, ddlToken{text: s[i:j]})
			i = j
		}
	}
	return out, nil
}

// hiveUnescape applies Hive's string-literal escapes: \t \n \r \\ \' \"
// and octal \ooo (Hive writes '\001' for ^A).
func hiveUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch n := s[i]; {
		case n == 't':
			b.WriteByte('\t')
		case n == 'n':
			b.WriteByte('\n')
		case n == 'r':
			b.WriteByte('\r')
		case n >= '0' && n <= '7':
			v, j := 0, i
			for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
				v = v*8 + int(s[j]-'0')
				j++
			}
			b.WriteByte(byte(v))
			i = j - 1
		default:
			b.WriteByte(n)
		}
	}
	return b.String()
}

// DDL prints the definition as an Athena CREATE EXTERNAL TABLE statement
// that DefFromCreate reads back to an equal definition.
func (d *TableDef) DDL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE %s.%s (\n", quoteIdent(d.Database), quoteIdent(d.Name))
	cols := func(cs []TableColumn) {
		for i, c := range cs {
			sep := ","
			if i == len(cs)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "  %s %s%s\n", quoteIdent(c.Name), c.HiveType, sep)
		}
	}
	cols(d.Columns)
	b.WriteString(")\n")
	if d.Comment != "" {
		fmt.Fprintf(&b, "COMMENT %s\n", sqlString(d.Comment))
	}
	if len(d.PartitionBy) > 0 {
		b.WriteString("PARTITIONED BY (\n")
		cols(d.PartitionBy)
		b.WriteString(")\n")
	}
	switch d.Format {
	case TableJSON:
		serde := d.SerDe
		if serde == "" {
			serde = SerDeOpenXJSON
		}
		fmt.Fprintf(&b, "ROW FORMAT SERDE %s\n", sqlString(serde))
		b.WriteString(serdeProps(d.SerDeProperties))
	case TableParquet:
		fmt.Fprintf(&b, "ROW FORMAT SERDE %s\n", sqlString(SerDeParquetHive))
		b.WriteString("STORED AS PARQUET\n")
	case TableCSV:
		if d.Quote != "" {
			props := map[string]string{"separatorChar": d.Separator, "quoteChar": d.Quote, "escapeChar": d.Escape}
			fmt.Fprintf(&b, "ROW FORMAT SERDE %s\n", sqlString(SerDeOpenCSV))
			b.WriteString(serdeProps(props))
		} else {
			fmt.Fprintf(&b, "ROW FORMAT DELIMITED FIELDS TERMINATED BY %s", hiveString(d.Separator))
			if d.Escape != "" {
				fmt.Fprintf(&b, " ESCAPED BY %s", hiveString(d.Escape))
			}
			if d.NullFormat != `\N` {
				fmt.Fprintf(&b, " NULL DEFINED AS %s", hiveString(d.NullFormat))
			}
			b.WriteString("\n")
		}
		b.WriteString("STORED AS TEXTFILE\n")
	}
	fmt.Fprintf(&b, "LOCATION %s", sqlString(d.Location))
	props := map[string]string{}
	for k, v := range d.Properties {
		props[k] = v
	}
	if d.SkipHeader > 0 {
		props["skip.header.line.count"] = strconv.Itoa(d.SkipHeader)
	}
	if len(props) > 0 {
		keys := make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("\nTBLPROPERTIES (")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s = %s", sqlString(k), sqlString(props[k]))
		}
		b.WriteString(")")
	}
	return b.String()
}

func serdeProps(p map[string]string) string {
	if len(p) == 0 {
		return ""
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("WITH SERDEPROPERTIES (")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = %s", hiveString(k), hiveString(p[k]))
	}
	b.WriteString(")\n")
	return b.String()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// hiveString quotes s for a ROW FORMAT clause, escaping what Hive
// unescapes (backslashes, control bytes as octal).
func hiveString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\'':
			b.WriteString(`''`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
