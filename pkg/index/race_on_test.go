//go:build race

package index

// raceEnabled: the race detector makes stack buffers escape, so allocation
// counts are not meaningful.
const raceEnabled = true
