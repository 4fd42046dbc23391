// Package storage defines the small object-store interface that every cairn
// backend implements, and the sentinel errors and naming rules shared by all
// of them.
//
// # A deliberately small interface
//
// A repository needs only five operations from its storage: Put, Get (with a
// byte range), Stat, List (by prefix) and Delete. Everything else —
// encryption, packing, indexes, locking — is built above them in package
// repo, so a new backend is a few hundred lines and cannot get the
// repository format wrong. The contracts live in the doc comments of Store
// and are enforced by one conformance suite (package storagetest) that every
// backend runs, so "works with local" means "works with S3".
//
// # Atomic, create-only put
//
// Put takes the whole object as a byte slice and makes it visible
// atomically: a reader sees the whole object or nothing, never a prefix.
// Put never replaces an existing object (ErrExists): object names are
// content hashes or unique per writer, so an honest client never needs to,
// and a store that refuses replacement is what makes create-only
// credentials safe for backup machines: they cannot overwrite packs with
// junk. Object stores give atomicity for free and create-only with a
// conditional PUT; the local backend writes a temporary file, syncs it and
// links it to the target name, which fails if the name exists. Because the
// data is a slice, a retrying decorator can resend it without the caller's
// help, and the repository can trust that a listed object is complete: a
// crash mid-upload leaves no truncated pack.
//
// # Restricted names
//
// Object names are short, lowercase ASCII with '/' separators (see
// ValidName). cairn chooses every name itself (hex IDs under fixed
// directories), so the restriction costs nothing, and it makes the same
// repository portable everywhere: FAT32 and exFAT USB drives are
// case-insensitive and reject many characters, some S3 providers mishandle
// unusual keys, and ".." segments would let a name escape a local
// directory. Backends check names at their boundary and reject bad ones with
// ErrInvalidName before touching storage.
//
// # Errors translated at the boundary
//
// Callers need to tell a handful of situations apart — a missing object, a
// missing repository, a permission refusal (append-only credentials), a bad
// name, a failure worth retrying — whatever the backend. Each backend
// translates its own errors (fs.ErrNotExist, an S3 NoSuchKey response, ...)
// into the sentinels declared here and wraps them together with the original
// error, so errors.Is works on both and the message keeps the detail.
// Classification must happen before any other wrapping, because provider
// libraries often cannot see through wrapped errors.
//
// # Optional capabilities
//
// Not every store holds resources, can create its own location, limits its
// concurrent uploads or leaves temporary files behind, so those abilities
// are separate small interfaces (Closer, Creator, PutConcurrency,
// TempCleaner) that callers discover with a type assertion, in the style of
// io/fs. This keeps Store small. Decorators (retry, fault injection,
// create-only access) embed Forward, which implements every capability by
// forwarding it, so no decorator can hide one and none lists combinations
// of them; storagetest.CheckCapabilities holds each decorator to that.
package storage
