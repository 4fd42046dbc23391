// Package check verifies a repository and, when it finds damage, says what
// the damage costs: which packs, which blobs, and which files of which
// snapshots can no longer be restored.
//
// # What is checked
//
// The structural check reads only small objects and pack tails, so it is
// cheap enough to run after every prune:
//
//   - every index, snapshot, key, lease and deletion object is read from
//     the store and checked against its name (SHA-256) and, but for key
//     files (wrapped under passphrases check does not have), authenticated;
//     a damaged one is named and the others are still used;
//   - the index the rest of the check uses is built from exactly those
//     stored bodies, never from the local cache alone: a cached view is
//     used (to save memory) only once it is proven to hold the same entries
//     as the stored object, a cached copy that disagrees is rebuilt, and
//     the copy of a damaged stored object is dropped, so that this machine
//     does not go on relying on what no other machine can read;
//   - data/ is listed once; every pack an index entry names exists (a pack
//     already deleted by an interrupted prune, whose deletion marker still
//     condemns it, is information, not an error), and every entry lies
//     inside its pack;
//   - every indexed pack's header (authenticated, read with ranged reads)
//     agrees with the index entries for it; when it does not, the advice is
//     cairn repair index, which rebuilds the index from the headers;
//   - every snapshot decodes, and walking all its trees (each distinct tree
//     blob once) finds every tree and data blob in the index, in a pack that
//     exists.
//
// Packs no index mentions are reported as information: they are what an
// interrupted backup leaves, and the next prune removes them.
//
// With ReadData, each selected pack is downloaded once through
// repo.LoadPackBlobs (WholePack), hashed against its name (SHA-256, as the
// format requires) and every blob the index places in it is authenticated,
// decrypted and checked against its ID. This is what detects bit rot
// inside blob bodies, which the structural check cannot see, and claims
// forged by a key holder with create-only access: an index placing a
// file's chunk IDs in a pack of garbage, against which the owner's backups
// deduplicated. Subset limits the packs read: "n/m" selects the packs whose
// first ID byte modulo m is n-1, so running 1/m, 2/m, … m/m on successive
// days reads every pack exactly once; "x%" reads a random sample.
//
// # Unreachable is not damaged
//
// Every failure is one of two kinds. Damage is proven: bytes arrived and
// failed their hash, authentication, size or decoding (errors wrapping
// repo.ErrCorrupt). Anything else means the storage did not deliver (after
// the retries of the storage layer: cut or stalled connections, errors,
// timeouts), and says nothing about the content; such objects go to
// Report.Unreadable, never to the damage lists, and a blob is lost only if
// every copy of it is proven bad. A blob "in no index" or a pack "missing"
// is not called damage either when an index object or deletion marker that
// could explain it was unreadable. The command exits with its own status
// (ErrIncomplete) when nothing read was damaged but not everything could
// be read, so that nobody replaces good data on the strength of a network
// failure.
//
// # Damage report
//
// A blob is lost when every location the index gives for it is bad (its
// pack is missing, the entry is out of bounds, or the blob failed to open).
// A blob with one intact copy is not lost, even if another copy is damaged:
// readers fall back to the good copy. When anything is lost, check walks
// each snapshot again, with paths, to list the files and directories that
// need a lost blob. The walk memoizes results per directory content, so a
// directory shared by a thousand snapshots is examined once.
package check
