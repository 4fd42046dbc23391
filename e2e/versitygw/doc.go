// Package versitygw starts a real Versity S3 gateway (posix backend on a
// temporary folder) for cairn's end-to-end tests, so the main flows run
// against a second S3 implementation besides MinIO: what one server
// tolerates (headers, listing quirks, error codes) another may not.
//
// The binary is installed, pinned, by `scripts/install-tools.sh versitygw`
// (run by `make tools`) into the same cache folder as MinIO, or named by
// CAIRN_VERSITYGW. A missing binary skips the test loudly, and fails it
// when the CI environment variable is set.
package versitygw
