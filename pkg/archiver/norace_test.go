//go:build !race

package archiver

const raceEnabled = false
