// Package repotest builds small repositories in memory for the tests of
// the packages that read or rewrite a whole repository (check, prune).
//
// A Fixture backs up synthetic files as snapshots without going through
// the archiver: it splits each file into fixed ChunkSize blobs, writes the
// trees itself and saves the snapshot. Because the chunking is fixed and
// the content is deterministic (see Content), a test can compute which
// blobs, and with PacksOf which packs, hold a given file, then damage or
// remove exactly those and check what is reported or kept. The fixture
// records what each snapshot holds, so Verify can read every file back and
// compare it byte for byte.
//
// Packs are 4 KiB, so a handful of small files spread over many packs and
// tests stay fast. The package is imported only by _test files; it is
// ordinary Go code so that more than one package's tests can share it.
package repotest
