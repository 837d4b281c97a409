package orders

import (
	"cmp"
	"slices"
	"time"
)

// Station is a kitchen station: a burger stage that does simulated work
// whose length depends on what the order contains. Payment is not a
// station: it costs the same for every order.
type Station string

// The stations of the burger kitchen.
const (
	Grill    Station = "grill"
	Fry      Station = "fry"
	Assemble Station = "assemble"
)

// Stations lists the stations in pipeline order.
var Stations = []Station{Grill, Fry, Assemble}

// Capacity is how many units a station works on at once: the grill takes
// four patties, the fryer four baskets, and one cook assembles one thing at
// a time. A batch takes as long as its slowest unit.
func (s Station) Capacity() int {
	switch s {
	case Grill, Fry:
		return 4
	}
	return 1
}

// Item is a menu item and the time one unit of it takes at each station it
// visits.
type Item struct {
	Name string
	Work map[Station]time.Duration
}

// Menu is every item the kitchen makes, keyed by name. The times are chosen
// so that the usual order (a burger, fries and a soda) costs what the
// pipeline's default workloads assume: grill 2 s, fry 1.5 s, assemble about
// 1 s.
var Menu = map[string]Item{
	"burger":           {"burger", map[Station]time.Duration{Grill: 2 * time.Second, Assemble: 500 * time.Millisecond}},
	"cheeseburger":     {"cheeseburger", map[Station]time.Duration{Grill: 2200 * time.Millisecond, Assemble: 600 * time.Millisecond}},
	"double-burger":    {"double-burger", map[Station]time.Duration{Grill: 3 * time.Second, Assemble: 700 * time.Millisecond}},
	"veggie-burger":    {"veggie-burger", map[Station]time.Duration{Grill: 1500 * time.Millisecond, Assemble: 500 * time.Millisecond}},
	"chicken-sandwich": {"chicken-sandwich", map[Station]time.Duration{Fry: 2500 * time.Millisecond, Assemble: 500 * time.Millisecond}},
	"fries":            {"fries", map[Station]time.Duration{Fry: 1500 * time.Millisecond, Assemble: 200 * time.Millisecond}},
	"onion-rings":      {"onion-rings", map[Station]time.Duration{Fry: 1800 * time.Millisecond, Assemble: 200 * time.Millisecond}},
	"salad":            {"salad", map[Station]time.Duration{Assemble: 800 * time.Millisecond}},
	"shake":            {"shake", map[Station]time.Duration{Assemble: 600 * time.Millisecond}},
	"soda":             {"soda", map[Station]time.Duration{Assemble: 200 * time.Millisecond}},
}

// MenuNames returns the menu's item names, sorted.
func MenuNames() []string {
	names := make([]string, 0, len(Menu))
	for n := range Menu {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Work is the time station s needs for items: units are cooked in batches
// of the station's capacity, longest first, and each batch takes as long
// as its slowest unit. Items not on the menu cost nothing (decoding has
// already rejected them).
func Work(s Station, items []Line) time.Duration {
	var units []time.Duration
	for _, l := range items {
		d := Menu[l.Item].Work[s]
		if d <= 0 {
			continue
		}
		for range l.Quantity {
			units = append(units, d)
		}
	}
	slices.SortFunc(units, func(a, b time.Duration) int { return cmp.Compare(b, a) })
	var total time.Duration
	for i := 0; i < len(units); i += s.Capacity() {
		total += units[i]
	}
	return total
}
