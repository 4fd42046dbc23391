// Package miniotest runs a real MinIO server for tests that need an S3
// endpoint: the S3 backend's conformance run and the end-to-end tests of the
// cairn binary.
//
// A real server rather than a fake, because the point of those tests is to
// find where cairn's idea of S3 differs from an implementation's: error
// codes, HEAD responses without bodies, range edge cases, policy
// enforcement. The server binary is built once by scripts/install-tools.sh
// into a cache folder outside the module
// (${CAIRN_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn-tools}/bin) and found
// there, or at $CAIRN_MINIO (and mc at $CAIRN_MC). When it is missing a test
// is skipped with a loud message naming the command to run, except under CI
// (the CI environment variable is non-empty), where it fails: CI must never
// pass by silently testing nothing.
//
// Starting MinIO takes a second or two, so start one server per test
// package, not per test: call Start once in a top-level test and run the
// cases as its subtests, each in a bucket of its own (MakeBucket), or with
// its own prefix. The server stops (SIGTERM, then kill after ten seconds)
// and its data folder is removed when that top-level test ends. There is
// deliberately no package-level shared server: state that outlives a test
// would need globals and a TestMain hook in every user.
//
// AddUser and AppendOnlyPolicy create restricted credentials through
// MinIO's admin API (via mc), for tests of permission handling such as
// append-only backups.
package miniotest
