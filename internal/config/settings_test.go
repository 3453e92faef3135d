package config

import (
	"flag"
	"io"
	"reflect"
	"testing"
)

// TestTableCoversConfig guards against a Config field without a setting (or
// a setting whose copy misses its field): copying every setting from a fully
// filled Config must reproduce it.
func TestTableCoversConfig(t *testing.T) {
	var src Config
	v := reflect.ValueOf(&src).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x" + v.Type().Field(i).Name)
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]TopicMapping{{"a", "b"}}))
		default:
			t.Fatalf("field %s has unhandled kind %s", v.Type().Field(i).Name, f.Kind())
		}
	}
	var dst Config
	names := make(map[string]bool)
	for i := range settings {
		s := &settings[i]
		if names[s.name] {
			t.Errorf("setting %q listed twice", s.name)
		}
		names[s.name] = true
		if s.help == "" || s.section == "" {
			t.Errorf("setting %q lacks help or section", s.name)
		}
		s.copy(&dst, &src)
		// get/set round trip on every setting.
		var back Config
		if err := s.set(&back, s.get(&src)); err != nil || s.get(&back) != s.get(&src) {
			t.Errorf("%s: set(get()) = %q, %v; want %q", s.name, s.get(&back), err, s.get(&src))
		}
	}
	if !reflect.DeepEqual(dst, src) {
		t.Fatalf("copying every setting gives\n%#v\nwant\n%#v", dst, src)
	}
}

// BenchmarkLoad measures a whole Load (flags, env, validation) — not a hot
// path, recorded to notice accidental slowness at start-up.
//
//	go test ./internal/config -run XXX -bench Load -benchmem -count 10
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	env := []string{"SLUICE_TABLE=t1x", "SLUICE_FLUSH_INTERVAL=200ms", "HOME=/root"}
	args := []string{"--mqtt-topics=a/+=x,b/#=y", "--max-body-bytes=16MiB", "--batch-size=5000"}
	for b.Loop() {
		fs := flag.NewFlagSet("server", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if _, err := Load(fs, args, env); err != nil {
			b.Fatal(err)
		}
	}
}
