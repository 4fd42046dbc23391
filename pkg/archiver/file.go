package archiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Errors recorded in Skipped for files that changed under the backup.
var (
	errChanged  = errors.New("changed while being read; the stored content is what was read and may be inconsistent")
	errReplaced = errors.New("replaced by another file while being backed up; not stored")
)

// fileJob is a regular file to read. Its node is its slot in dir.
type fileJob struct {
	dir     *dirNode
	slot    int
	path    string
	changed bool // the parent snapshot has an entry of this name
	link    *linkState
	large   bool // queued as needing a chunker (see queue)
}

func (j *fileJob) node() *snapshot.Node { return &j.dir.entries[j.slot].node }

// fileResult is what reading a file found out.
type fileResult struct {
	size    uint64 // bytes read and stored
	sparse  bool
	changed error // stored, but listed in Skipped
	failed  error // not stored, listed in Skipped
}

// fileState follows a file whose chunks the blob pool saves. pending counts
// chunks in the pool plus one for the reader, which sets res before giving
// up its count; whoever brings it to zero completes the file.
type fileState struct {
	job     *fileJob
	mu      sync.Mutex
	content []crypto.ID
	pending atomic.Int64
	res     fileResult
}

// blobJob is one chunk of a file for the blob pool.
type blobJob struct {
	file *fileState
	idx  int
	data []byte
}

// worker scans directories and reads files.
type worker struct {
	a       *archiver
	counter countingReader
	// small is readSmall's buffer, reused from file to file (the Saver
	// keeps no reference): below the chunker's minimum size, so at most
	// 512 KiB by default, where a buffer per file made all of a tree of
	// small files garbage.
	small []byte
}

func (w *worker) loop(ctx context.Context) error {
	for {
		file, dir, ok := w.a.queue.next()
		if !ok {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if file != nil {
			err = w.readFile(ctx, file)
			if file.large {
				w.a.queue.largeDone()
			}
		} else {
			err = w.a.scanDir(ctx, dir)
		}
		if err != nil {
			return err
		}
	}
}

// readFile stores the content of one file. Files smaller than the
// chunker's minimum are one chunk (FastCDC never cuts below MinSize), so
// they are read into a buffer of their size and saved right here; larger
// files are chunked here and their chunks saved by the blob pool, so that
// one large file keeps every core busy. Only the errors that end the run
// are returned; problems with the file are recorded in its result.
func (w *worker) readFile(ctx context.Context, j *fileJob) error {
	a := w.a
	n := j.node()
	if n.Links > 1 {
		link, leader, done := a.links.join(n, j)
		if done {
			a.applyFile(j, link.content, link.res)
			return a.childDone(ctx, j.dir)
		}
		if !leader {
			return nil // completed with its leader
		}
		j.link = link
	}
	a.current.Store(&j.path)
	f, err := a.open(j.path, a.mayNoatime(n.UID))
	if err != nil {
		return a.completeFile(ctx, j, nil, fileResult{failed: err})
	}
	st, err := f.Stat()
	if err == nil && (!st.regular || st.ino != n.Inode || st.dev != n.Device) {
		err = errReplaced
	}
	if err != nil {
		f.Close()
		return a.completeFile(ctx, j, nil, fileResult{failed: err})
	}
	if n.Size < uint64(a.params.MinSize) {
		return w.readSmall(ctx, j, f)
	}
	return w.readChunked(ctx, j, f, f)
}

// readSmall reads a file expected to be one chunk. If it grew past that,
// it continues as a chunked file with what it has read.
func (w *worker) readSmall(ctx context.Context, j *fileJob, f sourceFile) error {
	a := w.a
	n := j.node()
	if uint64(cap(w.small)) < n.Size+1 {
		w.small = make([]byte, n.Size+1)
	}
	buf := w.small[:n.Size+1] // one more, to see growth without a second read
	got, err := readSmallFile(f, buf)
	if err != nil {
		a.stats.bytesRead.Add(uint64(got))
		f.Close()
		return a.completeFile(ctx, j, nil, fileResult{failed: err})
	}
	if got == len(buf) {
		return w.readChunked(ctx, j, f, io.MultiReader(bytes.NewReader(buf), f))
	}
	a.stats.bytesRead.Add(uint64(got))
	res := checkAfter(f, n, uint64(got))
	f.Close()
	var content []crypto.ID
	if got > 0 && res.failed == nil {
		id, err := a.saver.SaveBlob(ctx, pack.DataBlob, buf[:got:got])
		if err != nil {
			return fmt.Errorf("save %s: %w", j.path, err)
		}
		content = []crypto.ID{id}
	}
	return a.completeFile(ctx, j, content, res)
}

// readChunked splits r (which reads f, possibly after some bytes already
// read) into chunks and hands copies of them to the blob pool. Memory is
// one chunker's scan buffer plus the chunks in the pool, whatever the file
// size.
func (w *worker) readChunked(ctx context.Context, j *fileJob, f sourceFile, r io.Reader) error {
	a := w.a
	defer f.Close()
	c, err := a.takeChunker(ctx)
	if err != nil {
		return err
	}
	defer a.returnChunker(c)
	fs := &fileState{job: j}
	fs.pending.Store(1)
	w.counter.reset(r, &a.stats.bytesRead)
	c.Reset(&w.counter)
	for {
		chunk, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if w.counter.err == nil {
				return fmt.Errorf("chunk %s: %w", j.path, err)
			}
			fs.res.failed = w.counter.err
			break
		}
		// A copy: the chunker reuses its buffer for the next chunk
		// while the blob pool saves this one.
		data := a.copyChunk(chunk)
		fs.mu.Lock()
		idx := len(fs.content)
		fs.content = append(fs.content, crypto.ID{})
		fs.mu.Unlock()
		fs.pending.Add(1)
		select {
		case a.blobs <- blobJob{file: fs, idx: idx, data: data}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	read := w.counter.n
	w.counter.reset(nil, nil)
	if fs.res.failed == nil {
		fs.res = checkAfter(f, j.node(), uint64(read))
	}
	return a.fileStateDone(ctx, fs)
}

// copyChunk copies a chunk into the buffer of a saved chunk, or a new
// one. Reusing them keeps a large file from allocating its size again in
// garbage, which lets the heap (twice the live memory between collections)
// grow past what the run needs.
func (a *archiver) copyChunk(chunk []byte) []byte {
	var buf []byte
	select {
	case buf = <-a.chunkBufs:
	default:
	}
	return append(buf[:0], chunk...)
}

// recycleChunk offers the buffer of a saved chunk to copyChunk. A buffer
// holds the largest chunk it has seen, so at most the maximum chunk size.
func (a *archiver) recycleChunk(buf []byte) {
	select {
	case a.chunkBufs <- buf:
	default:
	}
}

// takeChunker waits for one of the run's chunkers. Chunking (over 1 GB/s)
// is several times faster than hashing, compressing and sealing a core's
// share of the chunks, so one chunker per four cores keeps the blob pool
// busy; fewer chunkers mean fewer multi-megabyte scan buffers, and large
// files read one after another rather than interleaved. Chunkers and their
// buffers are created on first use and reused for every large file.
func (a *archiver) takeChunker(ctx context.Context) (*chunker.Chunker, error) {
	var c *chunker.Chunker
	select {
	case c = <-a.chunkers:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c == nil {
		max := a.params.MaxSize
		var err error
		c, err = chunker.New(a.params, a.chunkerKey, make([]byte, max+max/chunkerSlackDivisor))
		if err != nil {
			a.chunkers <- nil
			return nil, err
		}
	}
	return c, nil
}

// returnChunker gives a chunker from takeChunker back. It never blocks:
// the channel has room for every chunker.
func (a *archiver) returnChunker(c *chunker.Chunker) { a.chunkers <- c }

// chunkerSlackDivisor sizes a chunker's scan buffer: the chunker needs
// the maximum chunk size, and with a quarter more it refills in reads of at
// least that quarter instead of moving nearly a whole buffer after every
// chunk. Measured with 8 MiB maximum chunks: 1.1 GB/s with no slack,
// 1.5 GB/s with a quarter, 1.9 GB/s with twice the size; the quarter keeps
// 6 MiB per chunker off the peak memory for a few percent of the CPU time.
const chunkerSlackDivisor = 4

// chunkersFor returns the number of chunkers for procs cores.
func chunkersFor(procs int) int { return max(1, (procs+3)/4) }

// checkAfter compares the file as it is after reading with the lstat taken
// before: a different size, mtime or inode, or a byte count that does not
// match the size, means it changed while being read.
func checkAfter(f sourceFile, n *snapshot.Node, read uint64) fileResult {
	res := fileResult{size: read}
	st, err := f.Stat()
	if err != nil {
		res.failed = err
		return res
	}
	res.sparse = st.blocks*512 < st.size
	if uint64(st.size) != n.Size || st.mtime != n.MTime || st.ino != n.Inode || read != n.Size {
		res.changed = errChanged
	}
	return res
}

// saveBlobs is a blob pool goroutine: it hashes, compresses, seals and
// packs chunks (Saver.SaveBlob does that work in the calling goroutine).
func (a *archiver) saveBlobs(ctx context.Context) error {
	for {
		select {
		case <-a.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case job := <-a.blobs:
			id, err := a.saver.SaveBlob(ctx, pack.DataBlob, job.data)
			if err != nil {
				return fmt.Errorf("save %s: %w", job.file.job.path, err)
			}
			a.recycleChunk(job.data)
			job.file.mu.Lock()
			job.file.content[job.idx] = id
			job.file.mu.Unlock()
			if err := a.fileStateDone(ctx, job.file); err != nil {
				return err
			}
		}
	}
}

// fileStateDone gives up one count of fs and completes the file when it
// was the last.
func (a *archiver) fileStateDone(ctx context.Context, fs *fileState) error {
	if fs.pending.Add(-1) > 0 {
		return nil
	}
	return a.completeFile(ctx, fs.job, fs.content, fs.res)
}

// completeFile records a read file's content in its node, and in the nodes
// of other links to it that waited, and tells their directories.
func (a *archiver) completeFile(ctx context.Context, j *fileJob, content []crypto.ID, res fileResult) error {
	a.applyFile(j, content, res)
	if j.link != nil {
		for _, follower := range a.links.finish(j.link, content, res) {
			a.applyFile(follower, content, res)
			if err := a.childDone(ctx, follower.dir); err != nil {
				return err
			}
		}
	}
	return a.childDone(ctx, j.dir)
}

// applyFile stores a read file's result in its node and counts it.
func (a *archiver) applyFile(j *fileJob, content []crypto.ID, res fileResult) {
	e := &j.dir.entries[j.slot]
	if res.failed != nil {
		e.omit = true
		a.report.skip(j.path, res.failed)
		a.event(j.path, StatusSkipped, 0, res.failed)
		return
	}
	e.node.Content, e.node.Size, e.node.Sparse = content, res.size, res.sparse
	if res.changed != nil {
		a.report.skip(j.path, res.changed)
	}
	if j.changed {
		a.stats.filesChanged.Add(1)
		a.event(j.path, StatusChanged, res.size, res.changed)
	} else {
		a.stats.filesNew.Add(1)
		a.event(j.path, StatusNew, res.size, res.changed)
	}
	a.stats.bytesDone.Add(res.size)
}

// readSmallFile reads a file expected to hold len(buf)-1 bytes into buf.
// It stops when buf is full (the file grew), at end of file, or as soon as
// it has the expected size: a read that returns fewer bytes than asked
// for reached the end then, and checkAfter's fstat catches anything written
// later, so the read that would return end of file is not needed.
func readSmallFile(r io.Reader, buf []byte) (int, error) {
	got := 0
	for got < len(buf) && (got != len(buf)-1 || got == 0) {
		m, err := r.Read(buf[got:])
		got += m
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

// countingReader counts what a file read returned and remembers its error,
// to tell the file's read errors from the run's.
type countingReader struct {
	r     io.Reader
	n     int64
	total *atomic.Uint64
	err   error
}

func (c *countingReader) reset(r io.Reader, total *atomic.Uint64) {
	c.r, c.n, c.total, c.err = r, 0, total, nil
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.total.Add(uint64(n))
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
