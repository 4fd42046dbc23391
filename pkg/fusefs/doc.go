// Package fusefs serves a repository's snapshots as a read-only FUSE file
// system (cairn mount), so that a user looking for last month's version of
// a file can open it in a file manager instead of learning ls, find and
// dump.
//
// # Layout
//
// The top directories are made from the snapshot listing: snapshots/TIME,
// ids/SHORT-ID, hosts/HOST/TIME and tags/TAG/TIME, each with a "latest"
// link to the newest, as restic mount lays them out. They are listed again
// when they are looked at and the last listing is older than a few
// seconds, so new backups appear without remounting; when a listing finds
// a new snapshot, the index objects written since are loaded first (a
// backup writes its index before its snapshot), so its files are readable
// as soon as it is shown. Snapshot objects are content-addressed, so each
// is decoded once.
//
// # Trees
//
// Inside a snapshot is its tree, as the archiver wrote it: the root
// mirrors absolute paths. Nothing is loaded up front. A directory is
// listed from its tree runs one at a time, so a directory of millions of
// entries is never decoded at once; decoded runs are kept in a bounded
// cache, and the last name of every run decoded is remembered, so a
// lookup decodes only the one run that can hold the name. Every node
// reports what the snapshot recorded: mode, owner, times, size, link
// count, symlink target and extended attributes. Trees never change, so
// the kernel may cache entries and attributes for long; only the top
// directories use short timeouts. The kernel checks permissions against
// the recorded modes and owners (default_permissions), as it would for a
// restored tree.
//
// # Files
//
// A read loads only the blobs it covers. Format 1.1 records every blob's
// plaintext length in the index, so a blob's offset in its file is a
// prefix sum; those lengths are claims of whoever wrote the index, used
// only when they add up to the file's size in the tree, and every blob
// read must have the length claimed, else the read fails with EIO (and a
// warning naming the file and blob). Where lengths are missing (format 1.0
// repositories, blobs of 16 MiB or more), blobs are read in order up to
// the offset and the lengths learned are kept. Decrypted blobs are kept in
// a bounded LRU cache (64 MiB by default), and a blob wanted by several
// reads at once is loaded once, since the kernel splits a sequential read
// into parallel 128 KiB requests. A read that continues where the last one
// ended starts loading the next four blobs in the background (at most
// eight such loads at once for the whole mount), so that reading a file
// from a remote repository does not wait one round trip per blob.
//
// # Lifetime
//
// Mount serves until its context is cancelled (Ctrl-C) or the file system
// is unmounted from outside (fusermount -u, umount); on cancellation it
// unmounts itself, retrying while the mountpoint is busy, so that no dead
// mount is left behind.
package fusefs
