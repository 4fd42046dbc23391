// Package restorer restores snapshots to disk (Restore), streams one file
// (Dump) or a directory as a tar or zip archive (DumpPath), and reads whole
// snapshots back without writing them (Verify, the restore drill).
//
// The restorer keeps backend requests few and large: every pack is read
// through repo.LoadPackBlobs (the one pack-reading path, shared with check
// and prune) with one ranged request covering all the blobs the restore
// needs from it (several when unneeded gaps exceed 4 MiB, and pieces of
// about 8 MiB so that a few packs still keep every core busy), and packs
// are fetched in parallel while the walk goes on. In pseudo-code:
//
//	walk the snapshot tree (only the trees on included paths)   [1]
//		create directories, symlinks, fifos, devices, empty files
//		plan each file's blobs: pack -> blob -> (file, position)
//		download the packs the walk has moved past              [2]
//		when the plan is full: download the rest, wait          [2]
//	download the rest                                           [2]
//	create hard links, then apply directory metadata deepest first  [3]
//	(one depth at a time, the directories of a depth in parallel)
//
// Every file is written under a temporary name in its directory
// (.cairn-restore-<run>-<n>-<name>) and renamed over its final name only
// once all its blobs are written and its size checked; its metadata is
// applied before the rename through the open handle (after the rename by
// path where the handle was closed, or with Options.Verify), its mtime
// last. So an interrupted or failed
// restore never leaves a file under its final name that is not the
// snapshot's: a failed or cancelled file's temporary is removed at once,
// and the leftovers of a killed restore are removed by the next restore
// of the same target, in every existing directory it restores into. Hard
// links are made the same way (link to a temporary name, then rename).
//
// Options.Overwrite decides about existing entries. The default skips a
// file whose size and mtime equal the snapshot's, which is exactly what a
// finished file of an interrupted restore has (a file renamed into place
// but killed before its times were set has today's mtime and is written
// again), so running an interrupted restore again finishes it.
// OverwriteIfChanged compares content instead (chunking the file as the
// backup did), OverwriteIfNewer keeps entries at least as new as the
// snapshot's, OverwriteNever keeps every existing entry and
// OverwriteAlways replaces all.
//
// [1] Directories are created owner-only (0700) so the restore can write
// into them whatever their mode; their real mode and times are applied at
// the very end, deepest first, since creating an entry changes a
// directory's mtime. The walk loads trees in the background ahead of
// itself (treeLoader) so a remote store's latency is paid in parallel.
// Inside a directory the restore created, nothing can exist yet, so the
// existence check that Options.Overwrite needs is skipped there. Regular
// files are not created while walking: the first write creates the file
// and sets its size, so files that are never written to keep their holes.
// Entries that share (device, inode) with links > 1 become hard links to
// the first one restored, linked once its content is written.
//
// [2] A plan ("batch") holds up to about a million file-blob references or
// 64 GiB, so memory does not grow with the snapshot. Packs are downloaded
// in the order the walk first needed them, Connections at a time, each
// once the walk has moved between packs 16 times without needing it
// (packIdle) and planned 256 MiB of content past its last use
// (packHorizon): the walk meets blobs in about the order the backup stored
// them, but deduplication against older data needs a pack again much
// later. A blob already planned keeps taking the files that need it until
// it is delivered, and the walk never waits for the download, so such
// needs rarely cost a second read. Likewise a sent plan takes new blobs of
// its pack until its download starts (a large file's packs also hold the
// small files parallel backup workers stored beside it). Only a blob the
// walk needs after that, or after it was delivered, is planned anew and
// read with a request of its own. Each
// blob is decrypted and checked against its ID as it arrives (on as many
// cores as there are workers) and written with WriteAt into every place it
// occurs, in any number of files; blobs that are entirely zero are not
// written at all, nor are the whole 4 KiB pages (aligned in the file) of
// other blobs that are zero, so sparse files stay sparse even where one
// MiB-sized blob holds a few bytes. A blob that cannot be read
// is tried at the other locations the index knows; when none works, every
// file that needs it is reported with the pack and blob, and the restore
// goes on with the rest and fails at the end.
//
// Where a blob goes in its file comes from the plaintext lengths the index
// records (format 1.1): when every blob of a file has one and they add up
// to the size its tree records, every offset is known while planning, so
// blobs are written wherever they belong as they arrive, in any order.
// Recorded lengths are claims of whoever wrote the index: each decrypted
// blob is checked against its recorded length, and a blob that differs
// fails every file that needs it (naming the pack and the blob), as do
// lengths that do not add up to the file's size; such a file is never
// renamed into place.
//
// A 1.0 index records only sealed lengths, so without recorded lengths a
// blob's offset is only known once the file's earlier blobs have been
// decrypted. Packs are fetched in walk order, and never more than
// 2*Connections places ahead of the oldest unfinished one, so that is
// almost always already the case; a blob that arrives early waits in
// memory (up to 64 MiB in all). Past that budget it is dropped and its
// pack fetched a second time once the batch is through, when every offset
// is known: a rare case (deduplication against old, scattered packs) that
// trades a second request for bounded memory.
//
// [3] A file whose blobs are all written gets its metadata through its
// handle (owner only as root, then mode, xattrs and times, as fsmeta.Apply
// does by path: three path lookups fewer per file), is closed and renamed
// into place. Handles
// of files still in progress stay open, up to 256; beyond that they are
// closed after each write. Nothing is synced: the kernel writes back as it
// would after cp. With Options.Verify a complete file stays under its
// temporary name (owner-readable whatever its mode) until it was read back
// and checked against its content IDs; only then is it renamed into place.
//
// Verify runs the same plan-and-download loop with a sink that keeps
// nothing, then (with Against) hashes each live file blob by blob, using
// the blob sizes learned from the download, and compares the hashes with
// the snapshot's content IDs, and compares metadata entry by entry.
package restorer
