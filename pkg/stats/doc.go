// Package stats computes what snapshots hold and what they cost (cairn
// stats): files and restore size, the deduplicated blobs they reference
// and the bytes those take in the repository, and for each snapshot the
// bytes only it holds, which forgetting it (and pruning) would free.
//
// One walk over the trees of every snapshot in the repository gives each
// blob an owner: the one snapshot that references it, or "shared". A tree
// blob already owned by the snapshot being walked, or shared, is not
// walked again (everything under it was marked when it was), so each tree
// is read at most twice however many snapshots reference it, and the file
// count and restore size of each tree run are remembered for the next
// snapshot that has it. All snapshots take part even when only some are
// asked about: a blob is unique to a snapshot only if no other snapshot,
// selected or not, references it.
//
// Sizes come from the index: a blob's stored size is its sealed length in
// its pack, its plaintext size the length the index records (format 1.1).
// A blob without a recorded length (a 1.0 repository, blobs of 16 MiB or
// more) is read and measured once. What forgetting a snapshot frees is the
// size of every pack all of whose referenced blobs only it references
// (prune deletes those whole, with their headers and any garbage in them),
// plus the stored size of its unique blobs in packs that stay, which a
// prune reclaims by repacking them (at the cost of writing their live
// blobs again).
package stats
