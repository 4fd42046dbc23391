// Package e2e holds cairn's end-to-end tests. They drive the built cairn
// binary (CAIRN_BIN, or built on the fly) as a user would, against real
// storage: local directories and a real MinIO server that the test command
// installs (scripts/install-tools.sh) and miniotest starts on loopback.
// Nothing is mocked: faults are injected by an HTTP proxy between cairn and
// MinIO, restricted credentials are real MinIO users with real policies, and
// restores are compared with the source tree byte for byte and field by
// field.
package e2e
