//go:build !unix

package prune

// processAlive cannot tell on this platform, so every run counts as alive
// until its lease expires.
func processAlive(int) bool { return true }
