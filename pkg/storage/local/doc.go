// Package local stores a cairn repository in a directory: a local disk, a
// network mount or a FAT32/exFAT USB drive.
//
// The directory plays the role of the bucket and object names map directly
// to paths: object "data/ab/abcdef" is the file DIR/data/ab/abcdef.
// Directories are created on demand and never removed; they are invisible
// to List, which reports only regular files, just as S3 has no directories.
//
// # Atomic, create-only puts
//
// Put writes the object to a temporary file in the target's own directory,
// named ".tmp-" followed by 16 random hex digits, syncs it, publishes it
// under the target name and syncs the directory. Publishing never replaces
// an existing object: on Linux it is renameat2(RENAME_NOREPLACE), which
// also works on FAT32 and exFAT; elsewhere, or where the file system lacks
// that flag, link(2) of the temporary file to the target (which fails if
// the target exists) followed by removing the temporary name; on a file
// system with neither, a check for the target before a plain rename (racy
// between two writers of the same name, who write the same bytes). Readers
// therefore see no object or the whole one, and a crash at any point
// leaves at most a stray temporary file, never a truncated object.
//
// # Temporary files left by a crash
//
// List skips temporary files, and names whose segments start with ".tmp-"
// are refused so that no object can be mistaken for one. The prefix is
// the one every earlier cairn version used and skipped, so repositories
// stay readable by them. A kill -9 or power cut during a Put leaves its
// temporary file behind: the first Put of each Store removes those older
// than MinTempAge (an hour: never a live Put's), and the store implements
// storage.TempCleaner so that check can report them and prune remove them.
//
// # Removable drives
//
// Nothing here relies on permissions, ownership, symlinks, hard links or
// case sensitivity, and object names are already short lowercase ASCII, so
// FAT32 and exFAT work. Entries that are not valid object names (such as
// "System Volume Information" or ".DS_Store") are ignored by List.
//
// # Missing repository and errors
//
// New does not create the directory; Create (storage.Creator) does. While
// the directory is missing, every operation fails with an error wrapping
// storage.ErrNoRepository, and Put does not create it, so a mistyped path
// or an unmounted drive gives "repository does not exist" instead of a new
// repository on the wrong disk. File-system errors are translated at the
// boundary: fs.ErrNotExist becomes storage.ErrNotFound, fs.ErrPermission
// and a read-only file system become storage.ErrPermission, and a full disk
// is reported as such.
package local
