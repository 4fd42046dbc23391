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
	// window is how many directories at the top of the stack the
	// prefetchers load parent listings for.
	window int
}

func newQueue(window int) *queue {
	q := &queue{window: window}
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
	q.files = append(q.files, files...)
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
			f := q.files[q.fhead]
			q.files[q.fhead] = nil
			q.fhead++
			if q.fhead == len(q.files) {
				q.files, q.fhead = q.files[:0], 0
			} else if q.fhead > 1024 && q.fhead*2 > len(q.files) {
				n := copy(q.files, q.files[q.fhead:])
				clear(q.files[n:])
				q.files, q.fhead = q.files[:n], 0
			}
			return f, nil, true
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
