package restorer

import "bytes"

// Sparse files: a restored file is created empty and truncated to its
// size, so whatever is not written reads as zero and takes no disk. Blobs
// that are all zero are not written at all, and of the others the whole
// pages (4 KiB, aligned in the file) that are zero are skipped too, so a
// MiB-sized blob holding a few bytes costs a page of disk, not a MiB.

// isZero reports whether b holds only zero bytes, which a freshly created
// (truncated) file already reads as: such blobs are not written, so holes
// stay holes.
func (w *writer) isZero(b []byte) bool {
	if len(b) == 0 || b[0] != 0 || b[len(b)-1] != 0 {
		return len(b) == 0
	}
	for len(b) > 0 {
		n := min(len(b), len(w.zeros))
		if !bytes.Equal(b[:n], w.zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// pageSize is the granularity of holes: a page of a blob that is all zero
// is not written, so the file keeps a hole there.
const pageSize = 4 << 10

// pwriteSparse writes data at off, except for the whole pages (aligned in
// the file) that are zero: the file was created empty and truncated to its
// size, so they already read as zero and stay holes.
func (w *writer) pwriteSparse(fd int, data []byte, off int64) error {
	start := 0 // of the run of non-zero pages not yet written
	pos := 0
	for pos < len(data) {
		end := min(len(data), pos+pageSize-int((off+int64(pos))%pageSize))
		if end-pos == pageSize && w.isZero(data[pos:end]) {
			if start < pos {
				if err := pwriteFull(fd, data[start:pos], off+int64(start)); err != nil {
					return err
				}
			}
			start = end
		}
		pos = end
	}
	if start < len(data) {
		return pwriteFull(fd, data[start:], off+int64(start))
	}
	return nil
}

// zeroTail reports whether pwriteSparse would leave the end of data
// unwritten: its last page is whole and zero.
func (w *writer) zeroTail(data []byte, off int64) bool {
	end := off + int64(len(data))
	pageStart := end - end%pageSize
	if end%pageSize != 0 || pageStart < off {
		return false
	}
	return w.isZero(data[pageStart-off:])
}
