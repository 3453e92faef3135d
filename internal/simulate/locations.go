package simulate

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
)

// Location is where a simulated device is installed: the reference data
// that the seed joins with device events in the data lake
// ("master_data"."smart_devices_location").
type Location struct {
	DeviceID            string
	Latitude, Longitude float64
	City                string
}

// cities are the sites devices are spread over; a few, so that a count of
// devices per location groups several devices together.
var cities = []struct {
	name     string
	lat, lon float64
}{
	{"Seattle", 47.6062, -122.3321},
	{"Chicago", 41.8781, -87.6298},
	{"New York", 40.7128, -74.0060},
	{"Dublin", 53.3498, -6.2603},
	{"Frankfurt", 50.1109, 8.6821},
	{"Tokyo", 35.6762, 139.6503},
	{"Sydney", -33.8688, 151.2093},
	{"São Paulo", -23.5505, -46.6333},
}

// Locations returns the installation site of each of n devices of the fleet
// with this seed, by device index. Devices share a site in groups (a
// building's worth), so the same seed and n always give the same table.
func Locations(seed int64, n int) []Location {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x10ca7e))
	out := make([]Location, n)
	sites := map[int][2]float64{}
	for i := range out {
		c := cities[rng.IntN(len(cities))]
		site := rng.IntN(3) // three buildings per city
		key := len(cities)*site + indexOfCity(c.name)
		pos, ok := sites[key]
		if !ok {
			// Within about 5 km of the centre, rounded to 4 decimals (11 m)
			// as a site survey would record it.
			pos = [2]float64{round4(c.lat + (rng.Float64()-0.5)*0.09), round4(c.lon + (rng.Float64()-0.5)*0.09)}
			sites[key] = pos
		}
		out[i] = Location{DeviceID: DeviceID(seed, i), Latitude: pos[0], Longitude: pos[1], City: c.name}
	}
	return out
}

func indexOfCity(name string) int {
	for i, c := range cities {
		if c.name == name {
			return i
		}
	}
	return -1
}

func round4(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 4, 64), 64)
	return v
}

// WriteLocationsCSV writes locs as CSV with the header
// device_id,latitude,longitude,city.
func WriteLocationsCSV(w io.Writer, locs []Location) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"device_id", "latitude", "longitude", "city"})
	for _, l := range locs {
		cw.Write([]string{l.DeviceID, strconv.FormatFloat(l.Latitude, 'f', -1, 64), strconv.FormatFloat(l.Longitude, 'f', -1, 64), l.City})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("simulate: write locations: %w", err)
	}
	return nil
}
