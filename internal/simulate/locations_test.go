package simulate_test

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/sluice-dev/sluice/internal/simulate"
)

func TestLocations(t *testing.T) {
	a, b := simulate.Locations(7, 50), simulate.Locations(7, 50)
	sites := map[[2]float64]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("device %d: %v then %v for the same seed", i, a[i], b[i])
		}
		if a[i].DeviceID != simulate.DeviceID(7, i) {
			t.Errorf("device %d: id %s, want %s", i, a[i].DeviceID, simulate.DeviceID(7, i))
		}
		if a[i].Latitude < -90 || a[i].Latitude > 90 || a[i].Longitude < -180 || a[i].Longitude > 180 || a[i].City == "" {
			t.Errorf("device %d: %+v", i, a[i])
		}
		sites[[2]float64{a[i].Latitude, a[i].Longitude}]++
	}
	if len(sites) >= 50 || len(sites) < 5 {
		t.Errorf("%d distinct sites for 50 devices: want devices grouped at a few sites", len(sites))
	}
	var buf bytes.Buffer
	if err := simulate.WriteLocationsCSV(&buf, a); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 51 || rows[0][0] != "device_id" || rows[0][3] != "city" || rows[1][0] != a[0].DeviceID {
		t.Errorf("CSV: %v %v", err, rows[:2])
	}
}
