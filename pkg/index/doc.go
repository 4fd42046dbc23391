// Package index maps blob IDs to the packs that store them, with memory that
// stays flat as a repository grows.
//
// # The requirement
//
// A backup must answer "is this blob already stored?" for every chunk it
// reads, against every blob in the repository. restic keeps that index in
// Go maps and pays about 96 bytes of RSS per indexed blob; cairn's budget is
// 24 bytes per blob, measured as the slope of peak RSS between two
// repository sizes, and a one-file backup into a 1.5-million-blob repository
// must take under a second.
//
// # Fixed-size sorted entries
//
// An index body (FORMAT.md section 7) is a pack table followed by 48-byte
// entries sorted by blob ID. Because the entries have a fixed size and an
// order, the body needs no decoding: a View reads the record it needs by
// position, Search finds an ID by bisection on the raw bytes, and Merge
// combines bodies with a streaming k-way merge of records. No Go value, map
// slot or pointer exists per blob, so the garbage collector never scans the
// index and there is no per-entry allocation overhead. Encode, Merge and
// the cache all write exactly this layout.
//
// Blob IDs are keyed hashes and so uniformly distributed; in-memory views
// exploit that with interpolation search (about 8 probes for 1.5
// million entries instead of 21), falling back to bisection when IDs are
// not uniform.
//
// # The local cache, and why it is read with pread rather than mmap
//
// Index objects are encrypted and often compressed, so each run would have
// to download and decrypt them all. Instead a Cache keeps the decrypted
// bodies on local disk, one file per index object, and Load returns a view
// of the file that keeps in memory only a fence table, the first 8 bytes of
// every 64th ID (0.125 bytes per entry), and a 16-bit fingerprint of every
// entry, bytes 8 and 9 of its ID (2 bytes per entry). A lookup finds in the
// fences the one 64-entry block that can hold the ID, compares the ID's
// fingerprint with the block's 64 in memory, and only if one matches reads
// the matching records (usually one) with one pread(2) into a stack buffer
// and checks the full ID.
//
// # Why fingerprints
//
// A Set asks every view whose ID range could hold an ID, and a big backup
// leaves several index objects (an intermediate one every 32 packs, about
// 7 for 1.5 million blobs), so without fingerprints every lookup cost one
// pread per view, almost all of them finding nothing: a backup with no
// changes over 1.5 million small files spent most of a minute there, and
// a first backup pays it for every new chunk. IDs are keyed hashes, so
// bytes 8 and 9 are uniform and independent of the first 8 that the fences
// narrow down; an absent ID matches one of a block's 64 fingerprints with
// probability about 64/65536, one lookup in a thousand per view. Misses
// thus cost no I/O, and hits one pread in the view that holds the blob. The
// fingerprints are filled in during the pass Load already makes over the
// file to check its checksum, so loading reads the file no more than
// before. An 8-bit fingerprint would save a byte per entry but let one
// absent lookup in four read a block; 16 bits keep the total near 2.1
// bytes per entry, far inside the budget.
//
// The first design memory-mapped the file instead, which keeps the heap at
// zero too, but RSS counts every mapped page a process touches, and the
// kernel decides how many pages one fault maps. On Linux 6.18 with ext4
// large folios, one fault mapped the whole 2 MiB folio around it: each
// lookup added about 2 MiB of RSS; 20 lookups into a 1.5M-entry index
// cost 25 bytes of RSS per indexed blob and 200 lookups mapped the whole
// file, 50 bytes per blob (BenchmarkRSSMmap keeps that measurement).
// Neither MADV_RANDOM nor MADV_NOHUGEPAGE changed it.
// With pread the file's pages stay in the kernel's page cache, which is
// shared, reclaimable and not RSS, whatever the kernel or file system does
// with folios. A lookup that a fingerprint matches costs a system call
// (about 3 to 5 microseconds on the development VM, against well under a microsecond for a
// search in memory), which is negligible beside reading and hashing a
// chunk of about 1 MiB. Reads also fail with an error rather than SIGBUS
// when the disk does.
//
// # Bytes per blob
//
// Measured by TestHeapPerEntry (heap-in-use slope between 100k and 1M
// entries loaded from the cache, plus RSS after lookups) and
// BenchmarkRSSAfterLookups (1.5M entries, 20 and 20,000 lookups):
//
//   - a cached index object loaded with Cache.Load: 2.125 bytes per entry
//     of heap (0.125 for the fences, 2 for the fingerprints; measured slope
//     2.10 bytes of heap and 2.0 of RSS), plus its supersedes list and a
//     few hundred bytes per object;
//   - blobs added by the running backup (Set.Add): 48 bytes each in sorted
//     runs, plus about 6 bytes per blob for the pack table with 16 blobs to
//     a pack; the largest merge of runs briefly holds both inputs as well;
//   - an in-memory view (NewView, used when the cache is unusable): the
//     body itself, 48 bytes per entry plus 32 per pack.
//
// Loading checks the whole file once with read(2) through a 48 KiB buffer
// (about 25 ms for a 1.5M-entry, 72 MB file from the page cache), which
// costs no RSS either. Not covered: on a cold cache, the repo package must
// hold a whole decrypted index object in memory once to store it (the
// format seals each object as one envelope), so very large merged objects
// raise that first run's peak; writing merged indexes as several objects
// split by ID range would bound it, and Set already skips views whose ID
// range cannot hold an ID.
//
// # Checksums: CRC-32C, not SHA-256
//
// Each cache file ends with a trailer holding the body length and the
// CRC-32C of the object name and body. A checksum without a key stops no
// attacker (whoever can rewrite the file can rewrite the trailer; the cache
// directory is as trusted as the user's home and the binary), so the
// trailer is there for accidents: bit rot, files torn by a crash (Store
// does not fsync, precisely because the checksum catches that), truncation,
// and a file copied under another object's name. CRC-32C detects every
// error burst up to 32 bits and every length change, misses random damage
// with probability 2^-32, and runs in hardware at many GB/s, so verifying a
// 72 MB file costs little beyond reading it, where SHA-256 would add some
// 40 ms to every run with nothing gained. Store validates each body fully (sorted, pack
// positions in range, known types) before writing it, which is why Load
// need only check the checksum, not the order of 1.5 million entries.
//
// # Cache invalidation
//
// A cache file is named by its index object's ID, the SHA-256 of the stored
// object, and objects are never rewritten, so a file whose name is still
// listed in the repository can never be stale: it is only ever missing or
// corrupt. Missing and corrupt files are misses (ErrCacheMiss; corrupt
// files are also removed), after which the caller downloads the object
// again and stores it (LoadOrFetch does both). Files whose objects have left
// the repository (merged away by prune) are stale; Retain removes them given
// the current listing. Files are created by writing a temporary file and
// renaming it, and are never modified in place, so several processes can
// share one cache directory. The cache is never needed for recovery: it
// can be deleted at any time and is rebuilt from the repository.
//
// # Sets, supersession and condemned packs
//
// A Set holds one view per index object plus the entries this run added. An
// object named in a loaded object's supersedes list is ignored only once
// Contains has proved that the superseding object holds every one of its
// entries: anyone who may create objects can write an empty index that
// claims to supersede the real one, and believing it would hide every blob
// and let index upkeep delete the real object. The proof is one merge walk
// over both sorted bodies, so it costs a read of each and no memory per
// entry; a claim that fails leaves both in use and is reported (Unproven).
// A claim about an object that is not loaded (already deleted) needs no
// proof. Merge carries its inputs' supersedes lists forward so that
// deleting superseded objects in any order never brings back an older one. Packs named by deletion markers are condemned:
// Has ignores them, so a backup stores such blobs again, while Lookup still
// uses them as a last resort for restore. A Set is safe for concurrent use:
// lookups share a read lock, and Add takes the write lock briefly (for a
// few milliseconds when it merges large runs, which is rare).
package index
