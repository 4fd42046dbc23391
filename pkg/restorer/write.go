package restorer

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/fsmeta"
)

// Limits of the file writer.
const (
	// maxOpenFiles bounds the handles kept open between writes to files
	// not yet complete; above it a handle is closed after each write.
	maxOpenFiles = 256
	// maxPending bounds decrypted blobs held in memory because an earlier
	// blob of their file has not arrived, so their offset is not known.
	// Blobs beyond it are dropped and fetched again in a second round.
	maxPending = 64 << 20
	// zeroCheckSize is the stride of the all-zero test.
	zeroCheckSize = 64 << 10
)

// writer is the restore's blobSink: it writes each blob into every place
// it occurs, completes files, and applies their metadata.
type writer struct {
	rs           *restorer
	zeros        []byte
	open         atomic.Int64 // handles currently open
	pendingBytes atomic.Int64
	pendingLimit int64

	mu       sync.Mutex
	deferred []target // occurrences dropped for lack of pending memory
	deferBP  []*blobPlan
}

func newWriter(rs *restorer) *writer {
	return &writer{rs: rs, zeros: make([]byte, zeroCheckSize), pendingLimit: maxPending}
}

func (w *writer) blob(bp *blobPlan, data []byte) {
	zero := w.isZero(data)
	ts := bp.seal()
	for len(ts) > 0 {
		n := 1
		for n < len(ts) && ts[n].file == ts[0].file {
			n++
		}
		w.writeFile(bp, ts[:n], data, zero)
		ts = ts[n:]
	}
}

// writeFile writes data at the occurrences ts (all in one file) whose
// offsets are known and keeps the others pending.
func (w *writer) writeFile(bp *blobPlan, ts []target, data []byte, zero bool) {
	f := ts[0].file
	f.mu.Lock()
	if f.failed || f.finished {
		f.mu.Unlock()
		return
	}
	old := f.advance()
	for _, t := range ts {
		if off, ok := f.offset(int(t.index)); ok {
			w.place(f, data, zero, off, int64(len(data)))
			continue
		}
		switch {
		case zero:
			w.setPending(f, t.index, nil)
		case w.pendingBytes.Add(int64(len(data))) <= w.pendingLimit:
			w.setPending(f, t.index, data)
		default:
			w.pendingBytes.Add(-int64(len(data)))
			w.mu.Lock()
			w.deferred = append(w.deferred, t)
			w.deferBP = append(w.deferBP, bp)
			w.mu.Unlock()
		}
	}
	// Blobs that waited for the prefix that just became known.
	for i := old + 1; i <= f.reach && i < len(f.blobs) && len(f.pending) > 0 && !f.failed; i++ {
		d, ok := f.pending[int32(i)]
		if !ok {
			continue
		}
		delete(f.pending, int32(i))
		off, _ := f.offset(i)
		w.place(f, d, d == nil, off, f.blobs[i].size.Load())
		w.pendingBytes.Add(-int64(len(d)))
	}
	w.afterWrite(f)
}

func (w *writer) setPending(f *fileState, i int32, data []byte) {
	if f.pending == nil {
		f.pending = make(map[int32][]byte)
	}
	// data is borrowed from the pack reader (repo.BlobFunc); a blob that
	// waits for its offset is kept in a copy.
	f.pending[i] = bytes.Clone(data)
}

// place writes one blob occurrence of size bytes (data is nil for zero
// blobs that waited). The caller holds f.mu.
func (w *writer) place(f *fileState, data []byte, zero bool, off, size int64) {
	if f.failed {
		return
	}
	if !zero {
		// A single-blob file's only write sets its size, unless it ends
		// in a zero page, which is left a hole.
		fd, err := w.handle(f, len(f.blobs) > 1 || w.zeroTail(data, off))
		if err == nil {
			err = w.pwriteSparse(fd, data, off)
		}
		if err != nil {
			w.failFile(f, err)
			return
		}
	}
	f.done++
	w.rs.progress.bytes.Add(uint64(size))
}

// handle returns f's open file descriptor, opening it if needed. The first
// open creates the file under its temporary name (f.temp, new: O_EXCL)
// and, if truncate is set, sets its size, so that unwritten zero pages are
// holes. Raw descriptors save the runtime's poller registration attempt on
// every open, which matters with many small files.
func (w *writer) handle(f *fileState, truncate bool) (int, error) {
	if f.handle >= 0 {
		return f.handle, nil
	}
	flags := unix.O_WRONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if !f.created {
		flags |= unix.O_CREAT | unix.O_EXCL
	}
	fd, err := openFD(f.temp, flags, 0o600)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: f.temp, Err: err}
	}
	if !f.created {
		f.created = true
		if truncate && f.node.Size > 0 {
			if err := unix.Ftruncate(fd, int64(f.node.Size)); err != nil {
				unix.Close(fd)
				return -1, &fs.PathError{Op: "truncate", Path: f.temp, Err: err}
			}
		}
	}
	f.handle = fd
	w.open.Add(1)
	return fd, nil
}

// removeTemp deletes the temporary file of f, which failed or was
// interrupted, so that nothing of it stays behind. The caller holds f.mu.
func (w *writer) removeTemp(f *fileState) {
	w.closeHandle(f)
	if f.created && !f.renamed {
		_ = remove(f.temp)
		f.created = false
	}
}

func (w *writer) closeHandle(f *fileState) error {
	if f.handle < 0 {
		return nil
	}
	err := unix.Close(f.handle)
	f.handle = -1
	w.open.Add(-1)
	if err != nil {
		return &fs.PathError{Op: "close", Path: f.path, Err: err}
	}
	return nil
}

// pwriteFull writes all of data at off.
func pwriteFull(fd int, data []byte, off int64) error {
	for len(data) > 0 {
		n, err := unix.Pwrite(fd, data, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		data, off = data[n:], off+int64(n)
	}
	return nil
}

func retryEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if err != unix.EINTR {
			return n, err
		}
	}
}

// afterWrite completes f when all its blobs are in place, and otherwise
// closes its handle if too many are open. The caller holds f.mu, which it
// releases.
func (w *writer) afterWrite(f *fileState) {
	if f.failed || f.done < len(f.blobs) {
		if f.handle >= 0 && w.open.Load() > maxOpenFiles {
			if err := w.closeHandle(f); err != nil {
				w.failFile(f, err)
			}
		}
		f.mu.Unlock()
		return
	}
	err := w.complete(f)
	installed := f.renamed
	f.mu.Unlock()
	if err != nil {
		w.rs.errs.add(f.path, err)
		return
	}
	if installed {
		w.rs.installed(f)
	}
}

// complete checks the size, makes sure an all-zero file exists, closes it
// and, unless Options.Verify wants it read back first, installs it. The
// caller holds f.mu.
func (w *writer) complete(f *fileState) error {
	f.finished = true
	if size, _ := f.contentSize(); len(f.blobs) > 0 && size != int64(f.node.Size) {
		w.removeTemp(f)
		f.failed = true
		return fmt.Errorf("content is %d bytes, the snapshot says %d: the snapshot is inconsistent", size, f.node.Size)
	}
	if !f.created {
		if _, err := w.handle(f, true); err != nil {
			w.removeTemp(f)
			f.failed = true
			return err
		}
	}
	verify := w.rs.opts.Verify && len(f.blobs) > 0
	if !verify && f.handle >= 0 {
		f.metaErr = applyFD(f.handle, f.path, f.node, w.rs.asRoot)
		f.metaDone = true
	}
	if err := w.closeHandle(f); err != nil {
		w.removeTemp(f)
		f.failed = true
		return err
	}
	if verify {
		return nil // verifyRestored installs it
	}
	return w.install(f)
}

// install renames f from its temporary name into place, replacing what
// was there. The caller holds f.mu.
func (w *writer) install(f *fileState) error {
	if err := rename(f.temp, f.path); err != nil {
		w.removeTemp(f)
		f.failed = true
		return &fs.PathError{Op: "rename " + f.temp + " to", Path: f.path, Err: err}
	}
	f.renamed = true
	return nil
}

// installed counts a file now in place and applies its metadata.
func (rs *restorer) installed(f *fileState) {
	rs.files.Add(1)
	rs.progress.files.Add(1)
	err := f.metaErr
	if !f.metaDone {
		err = fsmeta.Apply(f.path, f.node, rs.asRoot)
	}
	if err != nil {
		rs.errs.add(f.path, err)
	}
}

// dropUninstalled removes the temporary files of a batch that were not
// renamed into place (an interrupted verification).
func (w *writer) dropUninstalled(files []*fileState) {
	for _, f := range files {
		f.mu.Lock()
		w.removeTemp(f)
		f.mu.Unlock()
	}
}

// failFile marks f failed after a write error. The caller holds f.mu.
func (w *writer) failFile(f *fileState, err error) {
	if f.failed {
		return
	}
	f.failed = true
	w.removeTemp(f)
	w.dropPending(f)
	w.rs.errs.add(f.path, err)
}

func (w *writer) dropPending(f *fileState) {
	for _, d := range f.pending {
		w.pendingBytes.Add(-int64(len(d)))
	}
	f.pending = nil
}

// fail reports a blob that could not be read from any copy and fails every
// file that needs it. The error names the pack, the blob and the files.
func (w *writer) fail(bp *blobPlan, err error) {
	err = blobFailure(err, bp)
	for f := range bp.files() {
		f.mu.Lock()
		if !f.failed {
			f.failed = true
			w.removeTemp(f)
			w.dropPending(f)
			w.rs.errs.add(f.path, err)
		}
		f.mu.Unlock()
	}
}

// takeDeferred returns the occurrences dropped for lack of pending memory,
// as a plan of their own: by now every size is known, so they are written
// directly.
func (w *writer) takeDeferred() []*packPlan {
	w.mu.Lock()
	ts, bps := w.deferred, w.deferBP
	w.deferred, w.deferBP = nil, nil
	w.mu.Unlock()
	byPack := make(map[*packPlan]*packPlan)
	byBlob := make(map[*blobPlan]*blobPlan)
	var packs []*packPlan
	for i, t := range ts {
		orig := bps[i]
		bp := byBlob[orig]
		if bp == nil {
			pp := byPack[orig.pack]
			if pp == nil {
				pp = &packPlan{id: orig.pack.id}
				byPack[orig.pack] = pp
				packs = append(packs, pp)
			}
			bp = &blobPlan{id: orig.id, offset: orig.offset, length: orig.length, pack: pp}
			bp.size.Store(orig.size.Load())
			byBlob[orig] = bp
			pp.blobs = append(pp.blobs, bp)
		}
		bp.targets = append(bp.targets, t)
	}
	return packs
}

// finishBatch closes what the batch left open: files that never completed
// because a blob failed (already reported) or, if the run was cancelled
// (report is false), were still in progress.
func (w *writer) finishBatch(files []*fileState, report bool) {
	for _, f := range files {
		f.mu.Lock()
		if !f.finished {
			w.removeTemp(f)
			w.dropPending(f)
			if !f.failed && report {
				w.rs.errs.add(f.path, fmt.Errorf("incomplete: %d of %d blobs written (a bug: please report it)", f.done, len(f.blobs)))
			}
			f.failed = true
		}
		f.mu.Unlock()
	}
}
