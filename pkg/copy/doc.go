// Package copy copies snapshots from one repository to another (cairn
// copy), for a second copy of the backups elsewhere: a USB disk copied to
// object storage, one bucket to another provider.
//
// A copy is idempotent, so it can run after every backup. Each copied
// snapshot records its origin (snapshot.Snapshot.Original, the source
// snapshot's ID, or the source's own Original when it is itself a copy or
// a retagged snapshot, and OriginalRepo). A source snapshot whose origin a
// destination snapshot already records is skipped. The check is on the
// origin, not on the content, so retagging a snapshot in either repository
// does not make it copy again. Anyone holding the destination's key could
// plant a snapshot claiming an origin to keep it from being copied; with
// shared chunking (below) a genuine copy has the source's very root tree,
// so a claim whose root differs is not believed and the snapshot is copied.
//
// How the data moves depends on whether the two repositories chunk and
// name blobs alike. Chunk boundaries depend on the chunker parameters and
// the chunker key, blob IDs on the content-ID key; both keys derive from
// the master secret unless the config carries them (FORMAT.md sections 3
// and 5). A repository made with `cairn init --copy-chunker-params-from
// SRC` has its own master secret but carries SRC's two keys and chunker
// parameters, and then:
//
//	walk the snapshot's trees in the source; store each tree blob as is
//	collect the data blobs the destination's index lacks
//	for each source pack holding some (a bounded pool):
//		LoadPackBlobs: one ranged read for the blobs needed from it
//		each blob is authenticated and checked against its ID there;
//		a damaged one is tried from another copy, else the snapshot fails
//		save it into the destination under the same ID
//
// Trees keep their IDs, so they are not re-encoded; nothing is re-chunked
// and what the destination has is not even downloaded. Otherwise every
// file is re-chunked: its content is read from the source blob by blob,
// split with the destination's chunker and stored, and the trees are
// re-encoded with the new content IDs (unchanged directories are done
// once per run: a source subtree seen before maps to the same result).
//
// Each snapshot is one write session in the destination (repo.BeginWrite):
// its lease keeps a concurrent prune from deleting what the copy
// deduplicates against, and Commit writes the snapshot only when every
// blob it references is stored. Concurrent backups into the destination
// are as safe as two backups; the source is only read, so backups into it
// are unaffected. A snapshot that cannot be copied (a damaged or missing
// source blob, which the error names with its file) leaves no snapshot
// behind; the others are still copied, and Copy reports every failure.
package copy
