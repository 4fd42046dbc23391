package local

import "time"

// Test hooks for the external tests.

// WriteChunk is how much Put writes between calls of its write hook.
const WriteChunk = writeChunk

// SetWriteHook makes Put call fn before each chunk it writes.
func SetWriteHook(s *Store, fn func(written int64)) { s.writeHook = fn }

// SetClock replaces the clock that decides which temporary files are stale.
func SetClock(s *Store, now func() time.Time) { s.now = now }
