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
// deletion marker naming every pack that holds no referenced blob that is
// kept there, including packs no index mentions (a crashed backup's).
// Packs that are mostly unused (less than RepackThreshold of their bytes
// referenced) are repacked first: their live blobs are copied into new
// packs with a new index, and then the old packs join the marker. When a
// referenced blob is stored more than once, one copy is kept and the others
// count as unused.
//
// Phase 2 (sweep) handles each marker M. While any live backup run's leases
// do not list M (the run started before M existed and may use M's packs), M
// waits. Otherwise prune recomputes the referenced blobs from the snapshots
// that exist now, which include the snapshots of every run that has since
// finished, and deletes each pack of M whose referenced blobs all have a
// proven copy in an uncondemned pack (below); a pack that a late snapshot
// needs is rescued instead. It then writes one merged index that supersedes
// every current index object and omits the deleted packs, deletes the
// superseded index objects, and finally M. A run of Prune sweeps the
// existing markers, marks, and sweeps again, so with no backup running a
// single run frees everything.
//
// # Deleting only what is proved redundant
//
// Anyone holding a key can write a pack whose authenticated header lists
// every blob of the repository, and an index pointing at it, with nothing
// but create access. A prune that believed them would keep that pack's
// "copies" and delete every real pack. So:
//
//   - What a pack holds is read from its own authenticated header
//     (ReadPackHeader), one header read per pack and run; the index is
//     believed for a pack only where it matches that header. A header
//     whose entries overlap, or an index entry it does not confirm, makes
//     the pack bad (packs.go).
//   - A bad pack is never kept as a blob's copy, and is named in the Log
//     and in Stats.BadPacks.
//   - A pack holding a referenced blob is condemned (mark) or deleted
//     (sweep) only when that blob has another copy that this run has read
//     and authenticated, AEAD and content ID, with LoadPackBlobs, in a pack
//     that stays, or that this run wrote itself by repacking (prove.go). A
//     copy that fails makes its pack bad; mark then chooses again without
//     it, sweep tries the next copy, and with none left the pack stays.
//   - Repacking reads the blobs it copies out from the pack being
//     condemned, authenticated, and its Saver stores each of them again
//     (Repository.SetAside) rather than trusting a copy it has not read.
//   - If the repository passed over a snapshot or index object it could
//     not read (Repository.Skipped), or any cannot be loaded, prune deletes
//     nothing and names the object.
//
// The cost in normal operation: one ranged read of each pack's last 16
// KiB (two reads when its header is larger), and blob reads only for
// referenced blobs stored twice whose other copy is about to go: duplicates
// written by concurrent backups, and in a sweep of a later run the copies
// an earlier run's repacking wrote (the bytes repacked, read once more).
// Wholly unused packs cost only their header. A planted pack costs reading
// the real copies of the blobs it claims, once, before it is deleted.
//
// # Clocks and leases
//
// A run is live if it has no "done" lease and its newest lease is younger
// than LeaseTTL, unless it ran on this machine (Options.Host) in a process
// that no longer exists (Options.ProcessAlive): a killed backup or prune
// does not hold back the next prune on the same host. While a marker
// waits, prune says for which run (operation, host, pid, start time). Ages
// are measured with the storage server's modification times, never the
// client's clock: prune writes its own lease and takes that lease's server
// time as "now". Its own lease also makes a concurrent prune
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
