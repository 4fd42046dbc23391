// Package prune removes data that no snapshot needs, safely alongside
// backups that are running at the same time, and Forget deletes snapshots.
//
// # Why two phases
//
// Backups run without an exclusive lock and may hold append-only
// credentials, so prune cannot stop them while it works. A backup that
// loaded the index a minute ago may be about to write a snapshot that
// deduplicates against a pack which, in the state prune sees, nobody uses.
// Deleting that pack at once would lose data. So prune never deletes what it
// has just decided is garbage; it announces it instead, and deletes only
// once every backup that could have missed the announcement has finished
// (FORMAT.md section 10).
//
// Phase 1 (mark) reads all snapshots, computes the set of referenced blobs
// (walking every tree once, however many snapshots share it) and writes a
// deletion marker naming every pack that holds no referenced blob, including
// packs no index mentions (a crashed backup's). Packs that are mostly unused
// (less than RepackThreshold of their bytes referenced) are repacked first:
// their live blobs are copied into new packs with a new index, and then the
// old packs join the marker. When a referenced blob is stored more than
// once, one copy is kept and the others count as unused.
//
// Phase 2 (sweep) handles each marker M. While any live backup run's leases
// do not list M (the run started before M existed and may use M's packs), M
// waits. Otherwise prune recomputes the referenced blobs from the snapshots
// that exist now, which include the snapshots of every run that has since
// finished, and deletes each pack of M that holds no referenced blob lacking
// a copy in an uncondemned pack; a pack that a late snapshot needs is
// rescued instead. It then writes one merged index that supersedes every
// current index object and omits the deleted packs, deletes the superseded
// index objects, and finally M. A run of Prune sweeps the existing markers,
// marks, and sweeps again, so with no backup running a single run frees
// everything.
//
// # Clocks and leases
//
// A run is live if it has no "done" lease and its newest lease is younger
// than LeaseTTL. Ages are measured with the storage server's modification
// times, never the client's clock: prune writes its own lease and takes that
// lease's server time as "now". Its own lease also makes a concurrent prune
// wait before sweeping a marker that might condemn the packs this prune is
// still writing and indexing while it repacks.
//
// # Crashes
//
// Every step is idempotent and ordered so that an interruption at any point
// leaves a consistent repository. Packs are deleted before the merged
// index is written, but the marker still condemns them, so backups do not
// deduplicate against the stale entries and the next prune repeats the sweep
// (deleting a missing pack is not an error). Repacked packs written before a
// crash are indexed duplicates, which the next mark condemns. The marker is
// deleted last, only after the merged index is in place.
package prune
