package loadgen

import (
	"encoding/json"
	"math/rand/v2"
)

// menu is what RandomOrder picks from: items on linecook's burger menu.
var menu = []string{"burger", "cheeseburger", "fries", "shake", "soda"}

// RandomOrder is a burger order of one to three lines, one to three of
// each item: the request body of POST /orders.
func RandomOrder(_ int, r *rand.Rand) []byte {
	type line struct {
		Item     string `json:"item"`
		Quantity int    `json:"quantity"`
	}
	n := 1 + r.IntN(3)
	picked := r.Perm(len(menu))[:n]
	lines := make([]line, n)
	for i, p := range picked {
		lines[i] = line{Item: menu[p], Quantity: 1 + r.IntN(3)}
	}
	b, _ := json.Marshal(struct {
		Items []line `json:"items"`
	}{lines})
	return b
}
