// Package archiver implements `cairn backup`: it walks the backup paths,
// stores file content and directory trees through a repo.Saver, and writes
// the snapshot once everything it references is stored.
//
// # Pipeline
//
// The snapshot root mirrors absolute paths, so the walk starts at "/" with
// the intermediate directories leading to each backup path (vdir), which
// carry their real metadata but only the children on the way to a path.
//
// A small fixed set of workers takes work from one queue. Scanning a
// directory lists its names (exact bytes, sorted bytewise), lstats each
// entry and reads its xattrs, and settles everything that needs no further
// I/O: symlinks, devices, fifos, and files unchanged since the parent
// snapshot. Files to read and subdirectories to scan go back on the queue.
// Workers prefer files over directories, and take directories last in,
// first out, so the walk is depth-first and the entries held in memory stay
// close to those of the directories on the current path. A file that needs
// a chunker waits while the chunkers are busy and there are directories to
// scan (up to 256 such files), so that the workers do not all sit waiting
// for the chunker a large file holds (queue.go).
//
// A file smaller than the chunker's minimum size is a single chunk
// (FastCDC never cuts below it), so it is read into a buffer of its size
// and saved by the worker itself: many small files are read in parallel by
// the workers. A larger file is cut by one of the run's keyed chunkers (one
// per four cores: chunking runs several times faster than what follows),
// and a copy of each chunk goes to the blob pool (one goroutine per core)
// that hashes, compresses and seals it in Saver.SaveBlob; the chunk's
// position in the file's content list keeps the order. So a single large
// file also keeps every core busy.
//
// Nothing waits for its children. Each directory counts the children still
// in progress; the goroutine that finishes the last one (a worker, or the
// blob pool goroutine that saved a file's last chunk) writes the directory's
// tree with a snapshot.TreeWriter and tells the parent directory, so trees
// are written in post-order as soon as they are complete. Writing the root
// tree ends the run. Then Run flushes the Saver (packs and index) and only
// after that saves the snapshot: a snapshot never references data that is
// not stored.
//
// Hard links are stored as ordinary file entries (with inode, device and
// link count, so restore can link them); a file with several links is read
// once per run, the other links wait for its content.
//
// # Incremental backups
//
// Each directory is compared with its entry in the parent snapshot, whose
// tree is loaded lazily, one directory at a time, and prefetched by a few
// goroutines just ahead of the scan so that remote storage latency is
// hidden. A file whose size, mtime, ctime, inode and device all equal the
// parent's entry takes its content list without being read. This is safe
// because every write to a file changes its mtime and ctime, ctime cannot
// be set from user space (tools that restore mtimes still move ctime), and
// a replaced file has another inode. Two gaps remain and are closed:
//
//   - Timestamps advance in clock ticks, so a file written again in the tick
//     in which the parent backup read it would look unchanged. Entries whose
//     ctime is within racyWindow of the parent snapshot's start are
//     therefore read again (git calls these "racily clean").
//   - The parent's blobs may have been condemned by a concurrent prune or
//     lost from a damaged repository, so they are reused only if the index
//     has them as data blobs in packs no deletion marker condemns.
//
// Reused content makes unchanged directories encode to identical tree
// blobs, which the Saver deduplicates, so a backup without changes reads no
// file and stores almost nothing. Access times are left out unless
// Options.WithATime asks for them: reading a file (by anyone, or by a
// backup without O_NOATIME rights) changes its atime, and storing it would
// give every directory above a new tree blob in every backup. ctime does
// not change on reads, so it is always stored.
//
// # Imperfect sources
//
// Entries that vanish, cannot be opened or read, or are sockets are left
// out, reported to Options.Warn and listed in the snapshot's Skipped list;
// an unreadable directory is stored empty and listed. A file is checked with
// fstat after reading: if its size, mtime or inode differ from the lstat
// taken before, or the byte count does not match, what was read is stored
// (with the size actually read) and the file is listed in Skipped as
// changed, so the CLI can exit with status 3. Its entry keeps the metadata
// from before the read, which no longer matches, so the next backup reads
// it again.
//
// # Streams
//
// With Options.Stdin a stream (standard input, a dump command's output) is
// backed up instead of paths, as one file directly below the root
// (stdin.go): cut by one chunker, its chunks saved by up to one goroutine
// per core. A stream cannot be read again, so a read error or a failing
// producer (StdinSource.Wait) fails the run without a snapshot, unlike a
// file that could not be read.
//
// # Memory
//
// Memory does not grow with file size: each chunker has one scan buffer
// (1.25 times the maximum chunk size, allocated when first used), the blob
// pool holds at most one chunk per goroutine plus one queued chunk per
// core, and the Saver holds at most Connections+1 packs. Small files are
// read into a buffer per worker. Chunk, small-file and pack buffers are
// reused rather than left to the garbage collector, so a large file
// allocates next to nothing once running and the heap stays close to what
// is live. What grows with the tree is the metadata of
// directories in progress (about one directory listing per level of the
// current path) and, when a parent snapshot is used, the parent listings of
// those directories and of a prefetch window of 2×Connections directories.
// A single directory's entries are held in full until its tree is written.
//
// Cancelling the context stops every goroutine (all channel operations
// select on it) and Run returns the context's error without writing a
// snapshot. Packs already uploaded are indexed by the Saver's intermediate
// index objects, so the next backup deduplicates against them.
package archiver
