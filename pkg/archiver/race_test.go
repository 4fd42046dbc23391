//go:build race

package archiver

// raceEnabled shrinks the largest test files: the race detector makes the
// chunker's byte loop about twenty times slower, and the logic under test
// does not depend on the sizes.
const raceEnabled = true
