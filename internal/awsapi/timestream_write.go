package awsapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/timestream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// Timestream Write (aws-compat.md §1, §2).

func (s *Server) timestreamWriteOps() map[string]func(context.Context, *call) (any, error) {
	return map[string]func(context.Context, *call) (any, error){
		"CreateDatabase":   s.createDatabase,
		"DescribeDatabase": s.describeDatabase,
		"ListDatabases":    s.listDatabases,
		"UpdateDatabase":   s.updateDatabase,
		"DeleteDatabase":   s.deleteDatabase,
		"CreateTable":      s.createTable,
		"DescribeTable":    s.describeTable,
		"ListTables":       s.listTables,
		"UpdateTable":      s.updateTable,
		"DeleteTable":      s.deleteTable,
		"WriteRecords":     s.writeRecords,
	}
}

// endpointCacheMinutes is what DescribeEndpoints tells clients to cache.
const endpointCacheMinutes = 1440

// describeEndpoints answers with sluice's own address: the Host the client
// reached, so endpoint discovery leads the SDK back here. aws-sdk-go-v2 uses
// only the host part and keeps its scheme.
func (s *Server) describeEndpoints(ctx context.Context, c *call) (any, error) {
	if err := c.authorize("timestream:DescribeEndpoints", "*"); err != nil {
		return nil, err
	}
	host := c.r.Host
	if host == "" {
		host = "localhost"
	}
	return map[string]any{"Endpoints": []map[string]any{{"Address": host, "CachePeriodInMinutes": endpointCacheMinutes}}}, nil
}

func (s *Server) databaseARN(db string) string {
	return "arn:aws:timestream:" + s.opts.Region + ":" + s.opts.AccountID + ":database/" + db
}

func (s *Server) tableARN(db, table string) string {
	return s.databaseARN(db) + "/table/" + table
}

type databaseOut struct {
	Arn             string
	DatabaseName    string
	TableCount      int64
	KmsKeyId        string `json:",omitempty"`
	CreationTime    json.Number
	LastUpdatedTime json.Number
}

func (s *Server) dbOut(d tsdb.DatabaseInfo) databaseOut {
	return databaseOut{Arn: s.databaseARN(d.Name), DatabaseName: d.Name, TableCount: int64(d.TableCount),
		CreationTime: epochSeconds(d.Created), LastUpdatedTime: epochSeconds(d.Updated)}
}

type retentionProps struct {
	MemoryStoreRetentionPeriodInHours  *int64
	MagneticStoreRetentionPeriodInDays *int64
}

type s3Config struct {
	BucketName       string `json:",omitempty"`
	ObjectKeyPrefix  string `json:",omitempty"`
	EncryptionOption string `json:",omitempty"`
	KmsKeyId         string `json:",omitempty"`
}

type magneticProps struct {
	EnableMagneticStoreWrites         *bool
	MagneticStoreRejectedDataLocation *struct {
		S3Configuration *s3Config `json:",omitempty"`
	} `json:",omitempty"`
}

type partitionKey struct {
	Type                string
	Name                string `json:",omitempty"`
	EnforcementInRecord string `json:",omitempty"`
}

type schemaShape struct {
	CompositePartitionKey []partitionKey
}

type tableOut struct {
	Arn                          string
	TableName                    string
	DatabaseName                 string
	TableStatus                  string
	RetentionProperties          retentionProps
	MagneticStoreWriteProperties magneticProps
	Schema                       schemaShape
	CreationTime                 json.Number
	LastUpdatedTime              json.Number
}

func (s *Server) tblOut(t tsdb.TableInfo) tableOut {
	mem := int64(t.Retention.Memory / time.Hour)
	mag := int64(t.Retention.Magnetic / (24 * time.Hour))
	en := t.MagneticStoreWrites
	return tableOut{
		Arn: s.tableARN(t.Database, t.Name), TableName: t.Name, DatabaseName: t.Database, TableStatus: "ACTIVE",
		RetentionProperties:          retentionProps{&mem, &mag},
		MagneticStoreWriteProperties: magneticProps{EnableMagneticStoreWrites: &en},
		// Timestream's default partition key: by measure name.
		Schema:       schemaShape{CompositePartitionKey: []partitionKey{{Type: "MEASURE"}}},
		CreationTime: epochSeconds(t.Created), LastUpdatedTime: epochSeconds(t.Updated),
	}
}

// storeError maps tsdb errors to Timestream's.
func storeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tsdb.ErrNotFound):
		return errf(http.StatusBadRequest, "ResourceNotFoundException", "%s", strings.TrimPrefix(err.Error(), "tsdb: "))
	case errors.Is(err, tsdb.ErrExists):
		return errf(http.StatusBadRequest, "ConflictException", "%s", strings.TrimPrefix(err.Error(), "tsdb: "))
	case errors.Is(err, tsdb.ErrInvalid):
		return validation("%s", strings.TrimPrefix(err.Error(), "tsdb: invalid argument: "))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errf(http.StatusBadRequest, "ThrottlingException", "%v", err)
	}
	return err
}

func required(name, v string) error {
	if v == "" {
		return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(name))
	}
	return nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func (s *Server) createDatabase(ctx context.Context, c *call) (any, error) {
	var in struct {
		DatabaseName string
		KmsKeyId     string
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if err := required("DatabaseName", in.DatabaseName); err != nil {
		return nil, err
	}
	if err := c.authorize("timestream:CreateDatabase", s.databaseARN(in.DatabaseName)); err != nil {
		return nil, err
	}
	d, err := s.store.CreateDatabase(ctx, in.DatabaseName)
	if err != nil {
		return nil, storeError(err)
	}
	return map[string]any{"Database": s.dbOut(d)}, nil
}

func (s *Server) describeDatabase(ctx context.Context, c *call) (any, error) {
	var in struct{ DatabaseName string }
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if err := required("DatabaseName", in.DatabaseName); err != nil {
		return nil, err
	}
	if err := c.authorize("timestream:DescribeDatabase", s.databaseARN(in.DatabaseName)); err != nil {
		return nil, err
	}
	d, err := s.store.Database(ctx, in.DatabaseName)
	if err != nil {
		return nil, storeError(err)
	}
	return map[string]any{"Database": s.dbOut(d)}, nil
}

func (s *Server) updateDatabase(ctx context.Context, c *call) (any, error) {
	var in struct {
		DatabaseName string
		KmsKeyId     string
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if err := required("DatabaseName", in.DatabaseName); err != nil {
		return nil, err
	}
	if err := required("KmsKeyId", in.KmsKeyId); err != nil {
		return nil, err
	}
	if err := c.authorize("timestream:UpdateDatabase", s.databaseARN(in.DatabaseName)); err != nil {
		return nil, err
	}
	// sluice does not encrypt with KMS keys; the database is unchanged.
	d, err := s.store.Database(ctx, in.DatabaseName)
	if err != nil {
		return nil, storeError(err)
	}
	return map[string]any{"Database": s.dbOut(d)}, nil
}

func (s *Server) deleteDatabase(ctx context.Context, c *call) (any, error) {
	var in struct{ DatabaseName string }
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if err := required("DatabaseName", in.DatabaseName); err != nil {
		return nil, err
	}
	if err := c.authorize("timestream:DeleteDatabase", s.databaseARN(in.DatabaseName)); err != nil {
		return nil, err
	}
	return nil, storeError(s.store.DeleteDatabase(ctx, in.DatabaseName))
}

// pageToken encodes the name a listing continues after.
func pageToken(after string) string { return base64.RawURLEncoding.EncodeToString([]byte(after)) }

func parsePageToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 {
		return "", validation("NextToken is not valid")
	}
	return string(b), nil
}

func pageSize(max *int, limit int) (int, error) {
	if max == nil {
		return limit, nil
	}
	if *max < 1 || *max > limit {
		return 0, validation("MaxResults must be between 1 and %d", limit)
	}
	return *max, nil
}

func (s *Server) listDatabases(ctx context.Context, c *call) (any, error) {
	var in struct {
		NextToken  string
		MaxResults *int
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if err := c.authorize("timestream:ListDatabases", "*"); err != nil {
		return nil, err
	}
	n, err := pageSize(in.MaxResults, 20)
	if err != nil {
		return nil, err
	}
	after, err := parsePageToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	out := []databaseOut{}
	next := ""
	for _, d := range s.store.Databases(ctx) { // sorted by name
		if after != "" && d.Name <= after {
			continue
		}
		if len(out) == n {
			next = pageToken(out[n-1].DatabaseName)
			break
		}
		out = append(out, s.dbOut(d))
	}
	res := map[string]any{"Databases": out}
	if next != "" {
		res["NextToken"] = next
	}
	return res, nil
}

type tableIn struct {
	DatabaseName                 string
	TableName                    string
	RetentionProperties          *retentionProps
	MagneticStoreWriteProperties *magneticProps
	Schema                       *schemaShape
}

func (in *tableIn) options() (tsdb.TableOptions, error) {
	var opts tsdb.TableOptions
	if rp := in.RetentionProperties; rp != nil {
		if rp.MemoryStoreRetentionPeriodInHours == nil || rp.MagneticStoreRetentionPeriodInDays == nil {
			return opts, validation("RetentionProperties needs both MemoryStoreRetentionPeriodInHours and MagneticStoreRetentionPeriodInDays")
		}
		h, d := *rp.MemoryStoreRetentionPeriodInHours, *rp.MagneticStoreRetentionPeriodInDays
		if h < 1 || h > 8766 {
			return opts, validation("MemoryStoreRetentionPeriodInHours %d must be between 1 and 8766", h)
		}
		if d < 1 || d > 73000 {
			return opts, validation("MagneticStoreRetentionPeriodInDays %d must be between 1 and 73000", d)
		}
		opts.Retention = tsdb.Retention{Memory: time.Duration(h) * time.Hour, Magnetic: time.Duration(d) * 24 * time.Hour}
	}
	if mp := in.MagneticStoreWriteProperties; mp != nil {
		if mp.EnableMagneticStoreWrites == nil {
			return opts, validation("MagneticStoreWriteProperties needs EnableMagneticStoreWrites")
		}
		opts.MagneticStoreWrites = mp.EnableMagneticStoreWrites
	}
	if sc := in.Schema; sc != nil {
		for _, k := range sc.CompositePartitionKey {
			switch k.Type {
			case "MEASURE", "DIMENSION":
			default:
				return opts, validation("CompositePartitionKey Type %q must be DIMENSION or MEASURE", k.Type)
			}
		}
	}
	return opts, nil
}

func (s *Server) decodeTable(c *call, action string) (*tableIn, error) {
	var in tableIn
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if err := required("DatabaseName", in.DatabaseName); err != nil {
		return nil, err
	}
	if err := required("TableName", in.TableName); err != nil {
		return nil, err
	}
	if err := c.authorize(action, s.tableARN(in.DatabaseName, in.TableName)); err != nil {
		return nil, err
	}
	return &in, nil
}

func (s *Server) createTable(ctx context.Context, c *call) (any, error) {
	in, err := s.decodeTable(c, "timestream:CreateTable")
	if err != nil {
		return nil, err
	}
	opts, err := in.options()
	if err != nil {
		return nil, err
	}
	t, err := s.store.CreateTable(ctx, in.DatabaseName, in.TableName, opts)
	if err != nil {
		return nil, storeError(err)
	}
	return map[string]any{"Table": s.tblOut(t)}, nil
}

func (s *Server) describeTable(ctx context.Context, c *call) (any, error) {
	in, err := s.decodeTable(c, "timestream:DescribeTable")
	if err != nil {
		return nil, err
	}
	t, err := s.store.Table(ctx, in.DatabaseName, in.TableName)
	if err != nil {
		return nil, storeError(err)
	}
	return map[string]any{"Table": s.tblOut(t)}, nil
}

func (s *Server) updateTable(ctx context.Context, c *call) (any, error) {
	in, err := s.decodeTable(c, "timestream:UpdateTable")
	if err != nil {
		return nil, err
	}
	opts, err := in.options()
	if err != nil {
		return nil, err
	}
	t, err := s.store.UpdateTable(ctx, in.DatabaseName, in.TableName, opts)
	if err != nil {
		return nil, storeError(err)
	}
	return map[string]any{"Table": s.tblOut(t)}, nil
}

func (s *Server) deleteTable(ctx context.Context, c *call) (any, error) {
	in, err := s.decodeTable(c, "timestream:DeleteTable")
	if err != nil {
		return nil, err
	}
	return nil, storeError(s.store.DeleteTable(ctx, in.DatabaseName, in.TableName))
}

func (s *Server) listTables(ctx context.Context, c *call) (any, error) {
	var in struct {
		DatabaseName string
		NextToken    string
		MaxResults   *int
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	res := "*"
	if in.DatabaseName != "" {
		res = s.databaseARN(in.DatabaseName)
	}
	if err := c.authorize("timestream:ListTables", res); err != nil {
		return nil, err
	}
	n, err := pageSize(in.MaxResults, 20)
	if err != nil {
		return nil, err
	}
	after, err := parsePageToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	ts, err := s.store.Tables(ctx, in.DatabaseName)
	if err != nil {
		return nil, storeError(err)
	}
	// The token is "db\x00table", the last one returned.
	key := func(t tsdb.TableInfo) string { return t.Database + "\x00" + t.Name }
	sort.Slice(ts, func(i, j int) bool { return key(ts[i]) < key(ts[j]) })
	out := []tableOut{}
	next := ""
	for _, t := range ts {
		if after != "" && key(t) <= after {
			continue
		}
		if len(out) == n {
			next = pageToken(out[n-1].DatabaseName + "\x00" + out[n-1].TableName)
			break
		}
		out = append(out, s.tblOut(t))
	}
	r := map[string]any{"Tables": out}
	if next != "" {
		r["NextToken"] = next
	}
	return r, nil
}

// Version-conflict reasons as Timestream words them (aws-compat.md §1.4).
const (
	reasonSameVersion = "A record already exists with the same time, dimensions, measure name, and record version. A higher record version must be specified in order to update the measure value."
	rejectedMessage   = "One or more records have been rejected. See RejectedRecords for details."
)

// writeRecords is WriteRecords: CommonAttributes merged into each record
// (internal/timestream), valid records stored even when others are
// rejected, and RejectedRecordsException (HTTP 419) listing the rejected
// ones by index.
func (s *Server) writeRecords(ctx context.Context, c *call) (any, error) {
	var in timestream.WriteRequest
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if err := required("DatabaseName", in.DatabaseName); err != nil {
		return nil, err
	}
	if err := required("TableName", in.TableName); err != nil {
		return nil, err
	}
	if err := c.authorize("timestream:WriteRecords", s.tableARN(in.DatabaseName, in.TableName)); err != nil {
		return nil, err
	}
	if len(in.Records) == 0 || len(in.Records) > timestream.MaxRecords {
		return nil, validation("1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and %d (it has %d)", timestream.MaxRecords, len(in.Records))
	}
	for i := range in.Records {
		if v := in.Records[i].Version; v != nil && *v < 1 {
			return nil, validation("Records[%d].Version %d is invalid: versions start at 1", i, *v)
		}
	}
	if ca := in.CommonAttributes; ca != nil && ca.Version != nil && *ca.Version < 1 {
		return nil, validation("CommonAttributes.Version %d is invalid: versions start at 1", *ca.Version)
	}
	t, err := s.store.Table(ctx, in.DatabaseName, in.TableName)
	if err != nil {
		return nil, storeError(err)
	}
	recs, idx, rejected := timestream.Convert(&in)
	var magnetic int64
	if len(recs) > 0 {
		rejects, err := s.store.Write(ctx, in.DatabaseName, in.TableName, recs)
		if err != nil {
			return nil, storeError(err)
		}
		ok := make([]bool, len(recs))
		for i := range ok {
			ok[i] = true
		}
		for _, rj := range rejects {
			ok[rj.Index] = false
			rr := timestream.RejectedRecord{RecordIndex: idx[rj.Index], Reason: rj.Reason}
			if rj.ExistingVersion != 0 {
				v := rj.ExistingVersion
				rr.ExistingVersion = &v
				if recs[rj.Index].Version <= v {
					rr.Reason = versionReason(recs[rj.Index].Version, v)
				}
			}
			rejected = append(rejected, rr)
		}
		// Records older than the memory store's retention count as
		// magnetic store writes, as Timestream reports them.
		memEdge := s.opts.Now().Add(-t.Retention.Memory).UnixNano()
		for i, r := range recs {
			if ok[i] && r.Time < memEdge {
				magnetic++
			}
		}
	}
	if len(rejected) > 0 {
		sort.Slice(rejected, func(i, j int) bool { return rejected[i].RecordIndex < rejected[j].RecordIndex })
		return nil, &apiError{status: 419, code: "RejectedRecordsException", msg: rejectedMessage,
			extra: map[string]any{"RejectedRecords": rejected}}
	}
	total := int64(len(in.Records))
	return map[string]any{"RecordsIngested": map[string]int64{"Total": total, "MemoryStore": total - magnetic, "MagneticStore": magnetic}}, nil
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func versionReason(got, existing int64) string {
	if got == 0 {
		got = 1
	}
	if got < existing {
		return "The record version " + itoa(got) + " is lower than the existing version " + itoa(existing) + ". A higher version is required to update the measure value."
	}
	return reasonSameVersion
}
