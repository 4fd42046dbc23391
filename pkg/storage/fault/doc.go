// Package fault wraps a storage.Store and injects failures, so that unit
// tests can exercise the error paths of everything above storage: retries,
// cleanup after a failed upload, detection of truncated or corrupted packs.
//
// Real backends fail in a few recognisable ways, and the wrapper models
// each of them:
//
//   - a call returns an error (Rule, FailNth, FailPrefix), optionally after
//     the inner call succeeded, like an upload whose response was lost;
//   - a download stops early (ShortRead): the reader yields part of the
//     data and then io.ErrUnexpectedEOF, like a reset connection;
//   - a download returns wrong bytes (Corrupt), like bit rot on a disk or a
//     misbehaving proxy, which only the repository's checksums can catch.
//
// Failures are deterministic: rules fire on the Nth matching call or on
// calls whose names match a prefix, and probabilistic rules draw from a
// seeded generator (Seed), so a failing test fails the same way every run.
// Calls counts the calls per operation, so tests can also assert that, for
// example, a retry happened exactly once.
//
// With no rules configured the wrapper is transparent; it passes the
// storage conformance suite.
package fault
