package archiver

// FileStatus is what a backup did with one entry, for verbose listings
// (cairn backup -v lists new and changed files, -vv every entry).
type FileStatus struct {
	Path string
	// Status is one of "new", "changed", "unchanged" (regular files),
	// "excluded" (any entry an exclude rule left out) and "skipped" (an
	// entry that could not be stored; Reason says why).
	Status string
	// Size is a regular file's size.
	Size uint64
	// Reason explains "skipped", and a file that changed while it was
	// read.
	Reason string
}

// Statuses of FileStatus.
const (
	StatusNew       = "new"
	StatusChanged   = "changed"
	StatusUnchanged = "unchanged"
	StatusExcluded  = "excluded"
	StatusSkipped   = "skipped"
)

// event reports one entry's status to Options.FileStatus, if set.
func (a *archiver) event(path, status string, size uint64, reason error) {
	if a.opts.FileStatus == nil {
		return
	}
	fs := FileStatus{Path: path, Status: status, Size: size}
	if reason != nil {
		fs.Reason = skipReason(reason)
	}
	a.opts.FileStatus(fs)
}
