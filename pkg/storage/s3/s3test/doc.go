// Package s3test has fake S3 servers for tests of region handling. A real
// MinIO without a configured region accepts requests signed for any
// region, so it cannot show what a bucket in another AWS region does to a
// client with a wrong or stale region; these servers answer as AWS does.
package s3test
