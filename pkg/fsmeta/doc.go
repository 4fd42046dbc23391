// Package fsmeta reads file-system metadata into snapshot nodes and applies
// it to restored files. It is the only place that talks to the kernel about
// ownership, modes, times, xattrs and special files, so the archiver and the
// restorer stay portable and testable.
//
// Reading uses lstat, never stat: a backup stores symlinks as symlinks and
// must not follow them out of the backed-up tree. Times are kept with
// nanoseconds, since tools such as make and rsync compare them exactly.
// Sizes are recorded for regular files only: a directory's st_size is
// file-system specific noise that would change tree blobs, and thereby
// defeat their deduplication, without restoring anything. User and group
// names are stored next to the numeric IDs so that a restore on another
// machine can tell what the numbers meant; the Names cache keeps that to one
// lookup per ID and run.
//
// Applying follows an order the kernel dictates. chown clears setuid and
// setgid, so ownership is set first and the full mode after it. Setting
// xattrs and modes updates ctime but not mtime, and setting times is last
// so nothing disturbs them afterwards. Times are set with
// AT_SYMLINK_NOFOLLOW so symlinks get their own times, and symlinks get no
// chmod, as Linux ignores symlink modes. Ownership is only changed when the
// caller says it runs as root; a user restoring their own files keeps
// ownership, as cp and tar do.
//
// For the restorer: creating, renaming or removing an entry in a directory
// changes the directory's mtime, so Apply must be called on a directory
// after everything inside it has been restored (for example, in post-order
// as the walk leaves it). Xattrs are best effort: a file system or
// namespace that refuses one (security.* without privileges, user.* on
// symlinks) should not fail the restore, so Apply applies everything it can
// and returns all failures joined.
//
// The implementation is Linux-specific (golang.org/x/sys/unix); on other
// systems the functions return errors.ErrUnsupported so the module still
// builds everywhere.
package fsmeta
