// Package snapshot defines what a backup records: snapshot objects, which
// name a root directory, and the trees of directory entries (nodes) below
// it. It implements FORMAT.md sections 8 and 9 and the ways cairn reads
// them back: streaming walks, single-path lookups and choosing snapshots.
//
// # Trees
//
// A directory is encoded as a sequence of tagged fields per entry: each
// field carries its own length, so readers skip tags they do not know and
// newer clients can add fields without a format version bump. The encoding
// is canonical (fields in tag order, zero values omitted, minimal varints,
// entries sorted by name bytes, xattrs by name), because identical
// directories must give identical bytes: a tree blob's ID is a hash of its
// contents, so an unchanged directory costs nothing in the next snapshot.
// DecodeTree is correspondingly strict. It refuses anything a canonical
// writer would not produce where two readers might disagree about the
// meaning (duplicate fields, names that are not single path elements,
// unsorted entries), because a tree that reads differently in two places
// would restore different files.
//
// Names are bytes, not strings, so file names that are not UTF-8 survive
// exactly. Snapshot paths, which live in JSON, cannot: see Snapshot.
//
// Large directories are split into runs of at most MaxTreeEntries entries
// and MaxTreeBytes encoded bytes (8192 entries of large files, each
// listing thousands of chunk IDs, would otherwise make one blob of
// hundreds of MiB), one blob each. TreeWriter encodes entries as they are added and WalkDir
// decodes one run at a time, so neither side ever holds a million-entry
// directory in memory, and a changed file in a huge directory rewrites only
// its run. FindPath, used by restore --include and ls of one path, loads
// only the directories on the path and stops inside a directory at the
// first run that passes the name.
//
// A walk is depth first and needs each directory's tree before it can go
// on, which on remote storage is one round trip per directory in
// sequence. Walk and WalkDir given a Prefetcher as their loader start
// loading the subtrees of each decoded run in the background, a bounded
// number at a time (the repository's Connections), and hand them out when
// the walk arrives; the walk loads a tree itself rather than queue behind
// other prefetches, and what it skipped is dropped when it leaves the
// directory. Callers that skip directories say which with a want
// function, so a non-recursive listing loads nothing ahead.
//
// # Snapshots
//
// A snapshot is a small JSON object (time, host, paths, tags, the root's
// run blobs, statistics). List loads all of them concurrently, since there
// are few and each is one small round trip. Find resolves the references
// users type: "latest" under host, tag and path filters, or a hex ID
// prefix that must be unique. FindParent chooses the snapshot whose tree
// the archiver compares against to skip unchanged files: the newest from
// the same host with the same set of paths, as in restic.
//
// The repository is reached only through the small BlobSaver, BlobLoader
// and ObjectStore interfaces declared here, so this package does not
// depend on how blobs are packed, encrypted or indexed.
package snapshot
