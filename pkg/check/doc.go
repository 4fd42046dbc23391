// Package check verifies a repository and, when it finds damage, says what
// the damage costs: which packs, which blobs, and which files of which
// snapshots can no longer be restored.
//
// # What is checked
//
// The structural check reads only small objects and pack tails, so it is
// cheap enough to run after every prune:
//
//   - every index object loads and decodes (a damaged one is named; the
//     others are still used);
//   - data/ is listed once; every pack an index entry names exists (a pack
//     already deleted by an interrupted prune, whose deletion marker still
//     condemns it, is information, not an error), and every entry lies
//     inside its pack;
//   - every indexed pack's header (authenticated, read with ranged reads)
//     agrees with the index entries for it;
//   - every snapshot decodes, and walking all its trees (each distinct tree
//     blob once) finds every tree and data blob in the index, in a pack that
//     exists.
//
// Packs no index mentions are reported as information: they are what an
// interrupted backup leaves, and the next prune removes them.
//
// With ReadData, each selected pack is downloaded once, hashed against its
// name (SHA-256, as the format requires) and every blob the index places in
// it is authenticated and decrypted (OpenBlob). This is what detects bit rot
// inside blob bodies, which the structural check cannot see. Subset limits
// the packs read: "n/m" selects the packs whose first ID byte modulo m is
// n-1, so running 1/m, 2/m, … m/m on successive days reads every pack
// exactly once; "x%" reads a random sample.
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
