// Package mem is an in-memory storage.Store for unit tests.
//
// It is the reference implementation of the storage contract in its
// simplest form: a map guarded by a mutex. Tests of the repository layers
// use it so they run fast, without touching the disk, and in parallel. It
// copies data on Put and on Get, so a caller that reuses its buffer, or
// scribbles over what it read, cannot change the stored object — exactly
// the aliasing bugs a real backend would hide. Combine it with package
// fault to test error paths.
//
// Modification times come from the local clock at Put, standing in for the
// server's clock of a real backend.
package mem
