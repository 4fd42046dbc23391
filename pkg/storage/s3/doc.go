// Package s3 stores a cairn repository in a bucket of an S3-compatible
// object store (Amazon S3, MinIO, Ceph RGW, Backblaze B2, Wasabi, ...),
// using minio-go.
//
// S3 is a natural fit for the storage contract: a single PUT is atomic (a
// reader sees the whole old object or the whole new one, never a prefix),
// ListObjectsV2 returns keys in ascending byte order, and DELETE of a missing
// key succeeds. The package keeps to the part of the API every provider
// implements: single-request PUTs with Content-MD5 (never multipart, which
// would add a visible-but-incomplete state and a cleanup duty for aborted
// uploads), ranged GETs, HEAD and ListObjectsV2.
//
// Upload integrity does not depend on the server's goodwill: bodies are
// never sent with the aws-chunked streaming signature (servers that do not
// understand it store the chunk framing as the object), no x-amz-checksum-*
// headers are sent (B2 refuses them), and the ETag a PUT returns is
// compared with the MD5 of the body when it has the shape of one. The
// payload is UNSIGNED-PAYLOAD even over plain HTTP: Content-MD5 is one of
// the signed headers, so the signature already binds the body.
//
// Config.StorageClass applies to data packs only: every other object is
// small, read by every command and often deleted, and stays in the bucket
// default class. Archive classes, whose objects need a restore request
// before they can be read, are refused.
//
// Every PUT is conditional (If-None-Match: *), so the store never replaces
// an object, as the storage contract demands: with credentials that may
// only put, get and list, a backup machine cannot overwrite a pack. A 412
// answer becomes storage.ErrExists. Providers that do not implement
// conditional writes answer 501; the Store notices that on the first PUT,
// warns once through Config.Warn, and sends plain PUTs from then on (such a
// provider can only be made append-only with bucket versioning). A provider
// that silently ignores the header cannot be detected this way.
//
// Errors are classified at this boundary. translateError maps S3 error
// codes, HTTP statuses and transport failures to storage.ErrNotFound,
// ErrNoRepository, ErrPermission and ErrTransient before anything wraps
// them, because minio-go's own helpers only inspect the outermost error.
// Everything above this package reasons only in those sentinels.
//
// There is exactly one retry policy in cairn, the decorator in
// pkg/storage/retry. minio-go would otherwise retry each request up to ten
// times on its own, so New sets its MaxRetries to 1: the decorator then sees
// every transient failure, backs off with jitter, honours ctx while waiting,
// and can resume an interrupted download at the right offset.
//
// Concurrency is bounded by Config.Connections: every request takes a token
// (a Get keeps it until its reader is closed) and the HTTP transport keeps
// that many idle connections per host, so a full pool of workers always
// finds a warm connection.
package s3
