package grafana

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sluice-dev/sluice/internal/config"
)

const deployDir = "../../deploy/grafana"

// dashboard is the part of Grafana's classic dashboard model the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Type       string     `json:"type"`
			Name       string     `json:"name"`
			Query      string     `json:"query"`
			Datasource datasource `json:"datasource"`
			Multi      bool       `json:"multi"`
			IncludeAll bool       `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int        `json:"id"`
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Datasource datasource `json:"datasource"`
	Panels     []panel    `json:"panels"` // rows
	Targets    []struct {
		RefID  string `json:"refId"`
		Format string `json:"format"`
		RawSQL string `json:"rawSql"`
	} `json:"targets"`
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(deployDir, "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", deployDir, err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// TestShippedDashboard runs every query of the shipped dashboards as
// Grafana would send it, against data that fills every panel: the written
// telemetry, two unmappable events (dead letters) and one event from a
// clock an hour ahead (a clock correction), both through HTTP ingest.
func TestShippedDashboard(t *testing.T) {
	f := start(t)
	f.postEvents(t,
		`{"DeviceID":"broken-1","Time":1700000000000}`,
		fmt.Sprintf(`{"DeviceID":"dev-skewed","Time":%d,"temperature_measure":21.5,"watt_measure":80}`, time.Now().Add(time.Hour).UnixMilli()))
	f.waitRows(t, `SELECT count(*) FROM sluice.dead_letters`, 1)
	f.waitRows(t, `SELECT count(*) FROM sluice.clock_corrections`, 1)
	f.tr.to = time.Now().Add(time.Minute)

	for file, d := range loadDashboards(t) {
		t.Run(file, func(t *testing.T) {
			// Template variables first: their values feed the panels.
			vars := map[string][]string{}
			for _, v := range d.Templating.List {
				if v.Type != "query" {
					continue
				}
				sql, err := expand(v.Query, f.tr, time.Minute, nil)
				if err != nil {
					t.Fatal(err)
				}
				fr := f.mustQuery(t, sql)
				for _, r := range fr.rows {
					vars[v.Name] = append(vars[v.Name], fmt.Sprint(r[0]))
				}
				if len(vars[v.Name]) == 0 {
					t.Fatalf("variable %s: no values from %s", v.Name, sql)
				}
				if v.Name == "device" && fmt.Sprint(vars[v.Name]) != "[dev-0 dev-1 dev-2 dev-skewed]" {
					t.Errorf("device values %v", vars[v.Name])
				}
			}
			// "All" selected: every value.
			queries := 0
			for _, p := range allPanels(d.Panels) {
				for _, tg := range p.Targets {
					if tg.RawSQL == "" {
						continue
					}
					queries++
					name := fmt.Sprintf("panel %d %q %s", p.ID, p.Title, tg.RefID)
					sql, err := expand(tg.RawSQL, f.tr, time.Minute, vars)
					if err != nil {
						t.Errorf("%s: %v", name, err)
						continue
					}
					if strings.Contains(sql, "$") {
						t.Errorf("%s: unexpanded variable in %s", name, sql)
					}
					fr, err := f.query(t.Context(), sql)
					if err != nil {
						t.Errorf("%s: %s\n  error: %v", name, sql, err)
						continue
					}
					if len(fr.rows) == 0 {
						t.Errorf("%s: no rows from %s", name, sql)
						continue
					}
					switch tg.Format {
					case "time_series", "":
						timeSeriesTimes(t, sql, fr)
					case "table":
					default:
						t.Errorf("%s: format %q", name, tg.Format)
					}
					checkPanel(t, f, p.Title, fr)
				}
			}
			if queries < 8 {
				t.Errorf("only %d panel queries", queries)
			}
		})
	}
}

// checkPanel checks the values of the panels whose answer the test data
// determines.
func checkPanel(t *testing.T, f *fixture, title string, fr *frame) {
	t.Helper()
	switch title {
	case "Latest values per device":
		last := f.base.Add((nPoints - 1) * step)
		for _, r := range fr.rows {
			var d int
			if _, err := fmt.Sscanf(r[0].(string), "dev-%d", &d); err != nil {
				if r[0] != "dev-skewed" || r[fr.col("temperature")] != 21.5 || r[fr.col("humidity")] != nil {
					t.Errorf("%s: %v", title, r)
				}
				continue
			}
			for _, m := range measures {
				if r[fr.col(m)] != value(d, m, nPoints-1) {
					t.Errorf("%s: %s %s = %v, want %v", title, r[0], m, r[fr.col(m)], value(d, m, nPoints-1))
				}
			}
			if !r[fr.col("last_seen")].(time.Time).Equal(last) {
				t.Errorf("%s: %s last seen %v, want %v", title, r[0], r[1], last)
			}
		}
	case "Fleet power per minute":
		// Minute j of the written data: each device's mean watt summed.
		for _, r := range fr.rows[:10] {
			tm := epochToTime(r[0].(float64))
			j := int(tm.Sub(f.base) / time.Minute)
			want := 0.0
			for d := range nDevices {
				for k := j * 6; k < j*6+6; k++ {
					want += value(d, "watt", k) / 6
				}
			}
			if got := r[1].(float64); got < want-1e-9 || got > want+1e-9 {
				t.Errorf("%s: minute %d: %v, want %v", title, j, got, want)
			}
		}
	case "Clock corrections":
		r := fr.rows[0]
		if r[fr.col("DeviceID")] != "dev-skewed" || r[fr.col("offset_seconds")].(float64) < 3500 {
			t.Errorf("%s: %v %v", title, fr.names, r)
		}
	case "Dead letters":
		if len(fr.rows) != 1 || !strings.Contains(fr.rows[0][fr.col("payload")].(string), "broken-1") {
			t.Errorf("%s: %v", title, fr.rows)
		}
	}
}

// TestProvisioning checks the provisioning files against what Grafana
// needs and against the dashboards: the data source type and settings,
// the uid the panels use, the default --pg-addr, and the dashboard
// provider.
func TestProvisioning(t *testing.T) {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name     string         `yaml:"name"`
			UID      string         `yaml:"uid"`
			Type     string         `yaml:"type"`
			URL      string         `yaml:"url"`
			User     string         `yaml:"user"`
			JSONData map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(deployDir, "provisioning", "datasources", "sluice.yaml"), &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("datasources: %+v", ds)
	}
	src := ds.Datasources[0]
	if src.Type != "grafana-postgresql-datasource" || src.URL != config.Default().PGAddr || src.User == "" {
		t.Errorf("data source %+v (default pg addr %s)", src, config.Default().PGAddr)
	}
	for k, want := range map[string]any{"database": "iot", "sslmode": "disable", "postgresVersion": 1500, "timescaledb": false} {
		if got := src.JSONData[k]; got != want {
			t.Errorf("jsonData.%s = %#v, want %#v", k, got, want)
		}
	}

	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(deployDir, "provisioning", "dashboards", "sluice.yaml"), &dp)
	if dp.APIVersion != 1 || len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || dp.Providers[0].Options.Path == "" {
		t.Errorf("dashboard providers: %+v", dp)
	}

	for file, d := range loadDashboards(t) {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid %q title %q", file, d.UID, d.Title)
		}
		check := func(what string, s datasource) {
			if s.UID != src.UID || s.Type != src.Type {
				t.Errorf("%s: %s uses data source %+v, provisioned is %s/%s", file, what, s, src.Type, src.UID)
			}
		}
		for _, v := range d.Templating.List {
			check("variable "+v.Name, v.Datasource)
		}
		for _, p := range allPanels(d.Panels) {
			if len(p.Targets) > 0 {
				check(fmt.Sprintf("panel %q", p.Title), p.Datasource)
			}
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
