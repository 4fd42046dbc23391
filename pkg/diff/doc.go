// Package diff compares two snapshots and finds files across snapshots.
//
// # Diff
//
// Diff walks the two root trees in lockstep. Directory entries are stored
// sorted by name bytes (FORMAT.md section 9), so one merge pass over both
// listings pairs each name with its counterpart, or finds it on one side
// only, while holding a single decoded tree run per directory level and
// side. Snapshots of the same machine share almost all of their trees:
// when both sides of a directory have the same list of tree blobs, its
// whole subtree is identical (tree blobs are content-addressed) and Diff
// skips it without loading anything. Comparing two nightly snapshots of a
// large home directory therefore costs about as many tree loads as there
// are changed directories times their depth.
//
// Trees the diff will enter (directories whose tree blobs differ from
// the other side's, and everything below an added or removed directory)
// are loaded ahead through a snapshot.Prefetcher, so a remote store's round
// trips overlap; identical subtrees are still never loaded.
//
// Each difference is reported as a Change, in depth-first order:
//
//   - Added / Removed: the entry exists on one side only. The contents of
//     an added or removed directory are reported too, one Change each.
//   - Modified: a file's content or size, a symlink's target, a device
//     number, or the entry's type changed. A type change from or to a
//     directory also reports that directory's contents as added or removed.
//   - MetadataOnly: same content, but the mode, owner, modification time or
//     extended attributes differ. Change times, access times, inode and
//     link counts are ignored: they change without the user changing
//     anything, and every line they produced would be noise.
//
// # Find
//
// Find lists the entries of several snapshots whose name or path matches a
// glob pattern with path.Match semantics ('*' and '?' never match '/';
// character classes and '\' escapes work as in path.Match; there is no
// "**"). A pattern without '/' is matched against each entry's base name,
// so "*.pdf" finds PDFs at any depth. A pattern with '/' is matched against
// the full path from the snapshot root, e.g. "/home/*/docs/*.pdf"; a
// leading '/' is implied if missing. Full-path patterns prune the walk: a directory whose
// path cannot be a prefix of a match is not entered. Base-name results are
// memoized per directory content, so a directory shared by many snapshots
// is read once. The directories a search will enter are loaded ahead
// (those pruned or memoized are not).
package diff
