package archiver

import (
	"sync"
)

// queue holds the work of the scanning and reading workers: files to read
// (first in, first out, so a directory's files are read in name order) and
// directories to scan (a stack, so the walk is depth-first and only the
// directories on the current path and their waiting siblings are held).
//
// Workers take files before directories: scanning adds work, reading
// finishes it, so preferring files keeps the number of entries in memory
// near what one directory listing holds.
//
// Files of at least the chunker's minimum size wait in a lane of their
// own, because each needs one of the run's few chunkers (one per four
// cores): a worker takes one only while a chunker is free for it, and
// otherwise scans directories and reads small files. Without the lane,
// the workers (one per core) all ended up waiting for the chunker that a
// 1 GiB file held while its upload crawled, and the 50,000 small files
// beside it were read only after it: on a bucket 20 ms away with 100
// MiB/s, 2.5 s of CPU-bound work after the uploads instead of beside
// them. At most maxWaitingLarge large files wait (their directories stay
// in memory until they are read); beyond that the workers take them
// anyway and wait for a chunker, as before.
//
// The queue cannot be a bounded channel: scanning a directory (done by a
// worker) adds work for the same workers, which would deadlock once the
// channel is full. Cancellation closes the queue (see archiver.run), which
// wakes every waiting worker.
type queue struct {
	mu     sync.Mutex
	cond   sync.Cond
	files  []*fileJob
	fhead  int
	dirs   []*dirNode
	closed bool
	// large holds the files that need a chunker (from lhead on): they
	// are handed out while fewer than chunkers of them are being read.
	large     []*fileJob
	lhead     int
	largeAt   uint64 // the chunker's minimum size
	chunkers  int
	largeBusy int
	// window is how many directories at the top of the stack the
	// prefetchers load parent listings for.
	window int
}

// maxWaitingLarge is how many large files may wait for a chunker while
// the workers scan on.
const maxWaitingLarge = 256

// newQueue makes the queue of a run whose files of at least largeAt bytes
// need one of its chunkers.
func newQueue(window int, largeAt uint64, chunkers int) *queue {
	q := &queue{window: window, largeAt: largeAt, chunkers: max(chunkers, 1)}
	q.cond.L = &q.mu
	return q
}

// push adds the work found by scanning one directory. dirs are pushed in
// reverse so that they are scanned in name order.
func (q *queue) push(files []*fileJob, dirs []*dirNode) {
	if len(files) == 0 && len(dirs) == 0 {
		return
	}
	q.mu.Lock()
	for _, f := range files {
		if f.node().Size >= q.largeAt {
			f.large = true
			q.large = append(q.large, f)
		} else {
			q.files = append(q.files, f)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		q.dirs = append(q.dirs, dirs[i])
	}
	q.mu.Unlock()
	q.cond.Broadcast()
}

// next returns a file to read or a directory to scan, waiting for one. It
// returns false once the queue is closed.
func (q *queue) next() (*fileJob, *dirNode, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return nil, nil, false
		}
		if q.fhead < len(q.files) {
			return popFIFO(&q.files, &q.fhead), nil, true
		}
		waiting := len(q.large) - q.lhead
		if waiting > 0 && (q.largeBusy < q.chunkers || waiting >= maxWaitingLarge || len(q.dirs) == 0) {
			q.largeBusy++
			return popFIFO(&q.large, &q.lhead), nil, true
		}
		if n := len(q.dirs); n > 0 {
			d := q.dirs[n-1]
			q.dirs[n-1] = nil
			q.dirs = q.dirs[:n-1]
			// The prefetch window moved down the stack.
			q.cond.Broadcast()
			return nil, d, true
		}
		q.cond.Wait()
	}
}

// largeDone tells the queue that a large file from next has been read, so
// that another may be handed out.
func (q *queue) largeDone() {
	q.mu.Lock()
	q.largeBusy--
	q.mu.Unlock()
	q.cond.Broadcast()
}

// popFIFO takes the first job of a first-in-first-out slice starting at
// *head, compacting it now and then.
func popFIFO(s *[]*fileJob, head *int) *fileJob {
	f := (*s)[*head]
	(*s)[*head] = nil
	*head++
	if *head == len(*s) {
		*s, *head = (*s)[:0], 0
	} else if *head > 1024 && *head*2 > len(*s) {
		n := copy(*s, (*s)[*head:])
		clear((*s)[n:])
		*s, *head = (*s)[:n], 0
	}
	return f
}

// nextPrefetch returns a parent listing that a directory near the top of
// the stack will need and that nobody loads yet, waiting for one. It
// returns false once the queue is closed.
func (q *queue) nextPrefetch() (*listing, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return nil, false
		}
		for i := len(q.dirs) - 1; i >= 0 && i >= len(q.dirs)-q.window; i-- {
			if l := q.dirs[i].old; l != nil && l.claim() {
				return l, true
			}
		}
		q.cond.Wait()
	}
}

// close makes next and nextPrefetch return false, now and from then on.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
