// Package storagetest is the conformance suite that every storage.Store
// implementation must pass.
//
// The contract of storage.Store is written in prose in its doc comments;
// this package turns that prose into tests, so that the local directory
// backend, the in-memory store, the fault-injecting wrapper and the S3
// backend (run against a real MinIO) all behave the same way. A repository
// bug that only shows up on one backend is almost always a backend that
// breaks the contract, and the fix belongs here first: add the failing case
// to the suite, then fix the backend.
//
// A backend's test calls Run with a constructor that returns a fresh, empty
// store. Every subtest still puts its objects under its own random top-level
// directory, so the suite also works when several runs share one bucket and
// prefix, and it checks only the objects it wrote, except where a test is
// about listing everything.
//
// The suite exercises concurrency (parallel puts, reads racing an
// overwrite); run it with -race.
package storagetest
