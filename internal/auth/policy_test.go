package auth

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func mustPolicy(t testing.TB, src string) Policy {
	t.Helper()
	var p Policy
	if err := yaml.Unmarshal([]byte(src), &p); err != nil {
		t.Fatalf("policy: %v\n%s", err, src)
	}
	return p
}

// seedPolicy is the seed's Flink role (docs/security.md), written for a
// region and account sluice does not have.
const seedPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "ReadInputStream", "Effect": "Allow", "Action": ["kinesis:Get*", "kinesis:DescribeStreamSummary"],
     "Resource": "arn:aws:kinesis:eu-west-1:111122223333:stream/KinesisTimestreamEvents"},
    {"Sid": "DescribeTimestreamEndpoints", "Effect": "Allow", "Action": ["timestream:DescribeEndpoints"], "Resource": "*"},
    {"Sid": "WriteTimestream", "Effect": "Allow", "Action": ["timestream:WriteRecords"],
     "Resource": "arn:aws:timestream:eu-west-1:111122223333:database/TimestreamDB/table/TimestreamTable"}
  ]
}`

func TestPolicyEvaluation(t *testing.T) {
	seed := mustPolicy(t, seedPolicy)
	denyWins := mustPolicy(t, `
Statement:
  - {Effect: Allow, Action: "*", Resource: "*"}
  - {Effect: Deny, Action: ["timestream:Select", "timestream:Delete*"], Resource: "arn:aws:timestream:*:*:database/iot/table/secret*"}
`)
	single := mustPolicy(t, `
Statement:
  Effect: Allow
  Action: timestream:Sel?ct
  Resource: arn:aws:timestream:*:*:database/iot/table/*
`)
	for _, c := range []struct {
		name             string
		p                Policy
		action, resource string
		want             bool
	}{
		{"seed: read stream, other region and account", seed, "kinesis:GetRecords", StreamARN("us-east-1", "KinesisTimestreamEvents"), true},
		{"seed: action case folded", seed, "Kinesis:getshariterator", StreamARN("", "KinesisTimestreamEvents"), true},
		{"seed: describe summary", seed, "kinesis:DescribeStreamSummary", StreamARN("", "KinesisTimestreamEvents"), true},
		{"seed: not other actions", seed, "kinesis:PutRecords", StreamARN("", "KinesisTimestreamEvents"), false},
		{"seed: not other streams", seed, "kinesis:GetRecords", StreamARN("", "events"), false},
		{"seed: endpoints anywhere", seed, "timestream:DescribeEndpoints", "*", true},
		{"seed: write its table", seed, "timestream:WriteRecords", TableARN("", "TimestreamDB", "TimestreamTable"), true},
		{"seed: not another table", seed, "timestream:WriteRecords", TableARN("", "TimestreamDB", "Other"), false},
		{"seed: not the database", seed, "timestream:WriteRecords", DatabaseARN("", "TimestreamDB"), false},
		{"seed: no select", seed, "timestream:Select", TableARN("", "TimestreamDB", "TimestreamTable"), false},
		{"seed: service must match", seed, "timestream:WriteRecords", "arn:aws:kinesis:x:y:database/TimestreamDB/table/TimestreamTable", false},
		{"deny wins", denyWins, "timestream:Select", TableARN("", "iot", "secret"), false},
		{"deny wins, wildcard action", denyWins, "timestream:DeleteTable", TableARN("", "iot", "secret-2"), false},
		{"deny wins, other case", denyWins, "timestream:Select", TableARN("", "IOT", "SECRET"), false},
		{"allow elsewhere", denyWins, "timestream:Select", TableARN("", "iot", "telemetry"), true},
		{"deny only what it names", denyWins, "timestream:WriteRecords", TableARN("", "iot", "secret"), true},
		{"single statement, ?", single, "timestream:Select", TableARN("", "iot", "t"), true},
		{"single statement, other db", single, "timestream:Select", TableARN("", "ops", "t"), false},
		{"* does not cross into the database", single, "timestream:Select", DatabaseARN("", "iot"), false},
		{"admin", AdminPolicy(), "anything:AtAll", "whatever", true},
		{"empty policy denies", Policy{}, "kinesis:PutRecord", "*", false},
	} {
		if got := c.p.Allowed(c.action, c.resource); got != c.want {
			t.Errorf("%s: Allowed(%s, %s) = %v, want %v", c.name, c.action, c.resource, got, c.want)
		}
	}
	if !single.AllowsSomewhere("timestream:Select") || seed.AllowsSomewhere("timestream:Select") {
		t.Error("AllowsSomewhere")
	}
	denyAll := mustPolicy(t, `Statement: [{Effect: Allow, Action: "timestream:*", Resource: "*"}, {Effect: Deny, Action: "timestream:Select", Resource: "*"}]`)
	if denyAll.AllowsSomewhere("timestream:Select") || !denyAll.AllowsSomewhere("timestream:WriteRecords") {
		t.Error("AllowsSomewhere with a Deny on *")
	}
}

func TestPolicyParseErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`Version: "2012-10-17"`, "no Statement"},
		{`Statement: [{Effect: Maybe, Action: "*", Resource: "*"}]`, "Effect"},
		{`Statement: [{Effect: Allow, Resource: "*"}]`, "no Action"},
		{`Statement: [{Effect: Allow, Action: "*"}]`, "no Resource"},
		{`Statement: [{Effect: Allow, Action: "PutRecords", Resource: "*"}]`, "service:action"},
		{`Statement: [{Effect: Allow, Action: "*", Resource: "*", Condition: {Bool: {x: y}}}]`, `"Condition" is not supported`},
		{`Statement: [{Effect: Allow, NotAction: "*", Resource: "*"}]`, `"NotAction" is not supported`},
		{`Statement: [{Effect: Allow, Action: [[1]], Resource: "*"}]`, "must be strings"},
		{`Statement: "x"`, "must be a statement"},
	} {
		var p Policy
		err := yaml.Unmarshal([]byte(c.src), &p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.src, err, c.want)
		}
	}
}

func TestWildMatch(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"", "", true}, {"", "a", false}, {"a*", "a", true}, {"a*c", "abbbc", true},
		{"a*c", "abbb", false}, {"*a*b*", "xxaxxbxx", true}, {"?", "", false}, {"a?c", "abc", true},
		{"ABC", "abc", true}, {"a*b*c*d", "aXbXcX", false}, {"**", "x", true},
	} {
		if got := wildMatch(c.p, c.s); got != c.want {
			t.Errorf("wildMatch(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

func TestParseKeys(t *testing.T) {
	keys, err := ParseKeys([]byte(`
keys:
  - access_key_id: AKID1
    secret_access_key: s1
    description: one
    policy: ` + seedPolicy + `
  - access_key_id: AKID2
    secret_access_key: s2
    policy: {Statement: {Effect: Allow, Action: "*", Resource: "*"}}
`))
	if err != nil || len(keys) != 2 || keys[0].ID != "AKID1" || keys[1].Secret.Reveal() != "s2" || len(keys[0].Policy.Statement) != 3 {
		t.Fatalf("%v %v", keys, err)
	}
	for _, c := range []struct{ src, want string }{
		{`keys: []`, "no keys"},
		{`keys: [{secret_access_key: s, policy: {Statement: {Effect: Allow, Action: "*", Resource: "*"}}}]`, "access_key_id is missing"},
		{`keys: [{access_key_id: "a:b", secret_access_key: s, policy: {Statement: {Effect: Allow, Action: "*", Resource: "*"}}}]`, "may contain only"},
		{`keys: [{access_key_id: a, policy: {Statement: {Effect: Allow, Action: "*", Resource: "*"}}}]`, "secret_access_key is missing"},
		{`keys: [{access_key_id: a, secret_access_key: s}]`, "policy is missing"},
		{`keys: [{access_key_id: a, secret_access_key: s, policy: {Statement: {Effect: Allow, Action: "*", Resource: "*"}}}, {access_key_id: a, secret_access_key: t, policy: {Statement: {Effect: Allow, Action: "*", Resource: "*"}}}]`, "twice"},
		{`keys: [{access_key_id: a, secret_access_key: s, secret: x, policy: {Statement: {Effect: Allow, Action: "*", Resource: "*"}}}]`, "secret"},
		{`other: 1`, "other"},
	} {
		_, err := ParseKeys([]byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.src, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), " s,") || strings.Contains(err.Error(), "s1")) {
			t.Errorf("error may quote a secret: %v", err)
		}
	}
	// Two keys with one id across the admin flag and the file.
	if _, err := New(Options{AdminKeyID: "AKID1", AdminSecret: NewSecret("x"), Keys: keys}); err == nil {
		t.Error("duplicate admin id accepted")
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	k := &Key{ID: "AKID", Secret: NewSecret("hunter2-secret"), Policy: AdminPolicy()}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "key", k, "secret", k.Secret)
	j, _ := json.Marshal(k)
	for _, out := range []string{fmt.Sprint(k.Secret), fmt.Sprintf("%v %+v %#v %s %q", k, k, k, k.Secret, k.Secret), logged.String(), string(j)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if k.Secret.Reveal() != "hunter2-secret" {
		t.Fatal("Reveal")
	}
}

func TestCheckSecret(t *testing.T) {
	s := testService(t, Options{})
	if c, err := s.CheckSecret(testID, testSecret); err != nil || c.AccessKeyID() != testID {
		t.Fatalf("good secret: %v", err)
	}
	for _, c := range [][2]string{{testID, "x"}, {testID, ""}, {"nobody", testSecret}, {"", ""}} {
		if _, err := s.CheckSecret(c[0], c[1]); code(err) != CodeUnrecognizedClient {
			t.Errorf("%q: %v", c, err)
		}
	}
}

func TestTopicMatches(t *testing.T) {
	for _, c := range []struct {
		f, t string
		want bool
	}{
		{"devices/+/telemetry", "devices/d1/telemetry", true},
		{"devices/+/telemetry", "devices/d1/x", false},
		{"devices/+/telemetry", "devices/telemetry", false},
		{"devices/#", "devices", true},
		{"devices/#", "devices/a/b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"a/b", "a/b/c", false},
	} {
		if got := TopicMatches(c.f, c.t); got != c.want {
			t.Errorf("TopicMatches(%q, %q) = %v", c.f, c.t, got)
		}
	}
}
