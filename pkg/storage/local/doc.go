// Package local stores a cairn repository in a directory: a local disk, a
// network mount or a FAT32/exFAT USB drive.
//
// The directory plays the role of the bucket and object names map directly
// to paths: object "data/ab/abcdef" is the file DIR/data/ab/abcdef.
// Directories are created on demand and never removed; they are invisible
// to List, which reports only regular files, just as S3 has no directories.
//
// # Atomic puts
//
// Put writes the object to a temporary file in the target's own directory,
// named ".tmp-" followed by random hex, syncs it, renames it over the target
// and syncs the directory. Rename within one directory is atomic on every
// file system cairn supports, so readers see the old object or the new one,
// and a crash at any point leaves at most a stray temporary file, never a
// truncated object. List skips temporary files, and names whose segments
// start with ".tmp-" are refused so that no object can be mistaken for one.
// Stray temporary files are harmless garbage.
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
