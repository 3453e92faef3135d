package auth

// DefaultRegion and Account fill the ARNs sluice builds for resources that
// have no region of their own (native API, MQTT, PostgreSQL). Policies are
// matched without regard to an ARN's region and account (see Policy).
const (
	DefaultRegion = "us-east-1"
	Account       = "000000000000"
)

func region(r string) string {
	if r == "" {
		return DefaultRegion
	}
	return r
}

// StreamARN is a Kinesis stream's ARN.
func StreamARN(reg, stream string) string {
	return "arn:aws:kinesis:" + region(reg) + ":" + Account + ":stream/" + stream
}

// DatabaseARN is a Timestream database's ARN.
func DatabaseARN(reg, db string) string {
	return "arn:aws:timestream:" + region(reg) + ":" + Account + ":database/" + db
}

// TableARN is a Timestream table's ARN.
func TableARN(reg, db, table string) string {
	return DatabaseARN(reg, db) + "/table/" + table
}
