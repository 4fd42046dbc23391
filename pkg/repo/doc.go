// Package repo is the cairn repository: it turns a storage.Store, a bucket
// or directory of opaque objects, into keys, a config, snapshots, an index
// and packs of blobs, as laid down in FORMAT.md (the contract every cairn
// client follows; read it first).
//
// # Content-addressed names
//
// Every object but config is named by the SHA-256 of its stored bytes. A
// reader checks the name before decrypting, so damage and substitution are
// caught before any key is used, and the storage operator can scrub the
// bucket without keys. Writes are idempotent (a retried upload writes the
// same bytes to the same name) and nothing is ever overwritten, which is
// what S3 object lock and eventually consistent listings need. The cost is
// that an object's name is known only after it is sealed, so the Saver
// hashes each finished pack before uploading it.
//
// # Envelopes
//
// Snapshots, index objects, leases and deletion markers are envelopes:
// XChaCha20-Poly1305 over a compression byte and a body, with the kind in
// the associated data. Binding the kind stops the server presenting an
// index as a snapshot; the name binds the identity. Errors say which object
// failed and wrap ErrCorrupt, so `cairn check` and users can act on them.
// Key files are the one exception: plain JSON that wraps the master secret
// under a passphrase (several per repository), tried in turn by Open.
//
// # The Saver pipeline
//
// Backups call SaveBlob from many goroutines. Each call hashes its chunk
// (keyed HMAC), checks the index and the run's in-flight set, and, for a
// new blob, compresses and seals it in the caller's goroutine, outside any
// lock, so the CPU work scales with the callers. Only copying the sealed
// blob into the open pack of its type happens under the lock. Data and tree
// blobs go to separate packs so that listing and partial restores fetch
// small tree packs only. A pack that reaches the target size is handed to
// an upload goroutine, which seals its header, hashes it and puts it; once
// stored, its entries join the in-memory index, which is what makes later
// duplicates of those blobs skip. After the first pack, and then every
// IndexEvery packs, 256 MiB or 5 minutes, the uploaded but unindexed
// entries are written as an index object, so a killed backup leaves its
// packs indexed and the next run reuses them; Flush writes the rest (folding
// in the first-pack index when it was the only one, so a small backup leaves
// one index object) and merges index objects when there are too many.
//
// # Bounded memory
//
// A data pack holds a memory slot from its first blob until its upload
// ends, a tree pack only while it uploads; there are Connections+1 slots
// (Connections capped by the store's storage.PutConcurrency: one for a
// local disk), so a backup holds at most that many packs and the open tree
// pack, whatever the number of callers, and a caller that needs a slot
// waits (on its context). The open tree pack holds none because it may
// take the whole backup to fill, and would otherwise take the place of an
// upload. The buffer of an uploaded pack is kept for the next data pack
// (at most one per slot), since allocating 16 MiB per pack costs more CPU
// than sealing its blobs; tree packs, usually tiny, start empty and grow.
// The in-flight set only holds blobs of packs not yet uploaded. The index
// is kept as views of index bodies in the local cache, read with pread(2)
// and searched through a small in-memory fence table and fingerprints, so a
// large repository's index costs about 2 bytes of heap per blob and its
// pages stay in the kernel's page cache; the cache is only a copy, rebuilt
// from the repository whenever it is missing or fails its checksum.
//
// # The local cache
//
// OpenOptions.CacheDir holds, per repository ID, the index bodies (see
// pkg/index) and whole tree packs (treecache.go). Trees are what ls,
// find, diff, restore and a no-change backup read, one small blob per
// directory; reading each with a ranged GET costs a round trip per
// directory, thousands for a source tree. Tree packs hold nothing else
// (FORMAT.md section 6) and are small, so the first tree blob LoadBlob
// needs from one downloads the whole pack in one GET (LoadPackBlobs with
// WholePack, streamed through SHA-256 into a temporary file renamed into
// place once the hash matched the pack's name), and later ones read the
// file. Concurrent requests for one pack share the download. Data blobs
// are never cached.
//
// The cache is trusted for nothing. A file's name is the SHA-256 of the
// pack, and each file is hashed in full before a process first uses it: a
// file that fails is removed and the pack downloaded again, never read,
// and every blob is still opened with OpenBlob. Whole-pack reads are
// bounded (the pack size plus 32 MiB, at most half the cache), so a junk
// object costs that much disk at most, and larger packs are read by range
// as without a cache; so are packs whose whole read failed, which keeps
// the error classification of the ranged path (ErrCorrupt for damage,
// anything else for storage). The directory is bounded by
// OpenOptions.CacheMaxSize: when a download takes it over, the least
// recently used files go (a file's time is set when stored and when a
// process first uses it) down to nine tenths of the bound. Files are only
// created by rename and removed, never changed, so processes can share
// the directory; a process keeps its verified files open. Without a
// cache directory everything works, with a GET per tree.
//
// # Opening far away
//
// Opening costs a key derivation (Argon2, a few tenths of a second) and,
// on a bucket tens of milliseconds away, every round trip the command
// waits for. Open therefore reads the config, lists keys/ and forgotten/
// and reads the remembered key file all at once (openfetch.go), and lists
// the kinds in OpenOptions.ListEarly while the key is derived: restore,
// ls and dump list snapshots/, deletions/ and index/ there, a backup
// snapshots/ and deletions/. Restoring the Go tree through a proxy adding
// 20 ms each way then waits for one round trip after the derivation
// instead of four.
//
// # Concurrent clients
//
// Leases and deletion markers (FORMAT.md section 10) let backups run
// without any lock while prune runs: a backup announces the markers it has
// seen, and never deduplicates against packs they condemn. A backup is one
// WriteSession (BeginWrite, Saver, Commit or Abort): it owns the lease, the
// uploads and the commit, and before the snapshot it re-lists deletions/
// and, when a marker it did not see appeared or its lease lapsed, checks
// that everything the snapshot references survives, storing again what
// only condemned packs hold (see WriteSession.secure).
package repo
