package restorer

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// maxListedErrors bounds how many distinct errors a summary spells out.
const maxListedErrors = 5

// errorLog counts failures on single paths, passes each to the Warn
// callback, and keeps the first few distinct ones for the final error.
type errorLog struct {
	warn func(path string, err error)

	mu    sync.Mutex
	n     int
	first []error
	seen  map[string]bool
}

func newErrorLog(warn func(string, error)) *errorLog {
	return &errorLog{warn: warn, seen: make(map[string]bool)}
}

// add records that path could not be restored exactly. Messages that do
// not name the path get it prepended.
func (l *errorLog) add(path string, err error) {
	l.mu.Lock()
	l.n++
	if msg := err.Error(); len(l.first) < maxListedErrors && !l.seen[msg] {
		l.seen[msg] = true
		l.first = append(l.first, fmt.Errorf("%s: %w", path, err))
	}
	l.mu.Unlock()
	if l.warn != nil {
		l.warn(path, err)
	}
}

func (l *errorLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// summary is nil without errors, else one error listing the first ones.
func (l *errorLog) summary(op string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return nil
	}
	more := ""
	if l.n > len(l.first) {
		more = fmt.Sprintf(" (%d listed)", len(l.first))
	}
	return fmt.Errorf("%s finished with %d errors%s:\n%w", op, l.n, more, errors.Join(l.first...))
}

// progressInterval is how often Progress is reported.
const progressInterval = 200 * time.Millisecond

// progress counts work done and calls the Progress callback from its own
// goroutine every progressInterval and once when stopped.
type progress struct {
	files, bytes, totalFiles, totalBytes atomic.Uint64

	fn    func(Progress)
	begin time.Time
	quit  chan struct{}
	done  chan struct{}
}

func newProgress(fn func(Progress)) *progress {
	return &progress{fn: fn}
}

func (p *progress) start() {
	p.begin = time.Now()
	if p.fn == nil {
		return
	}
	p.quit, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.fn(p.snapshot())
			}
		}
	}()
}

// stop ends the reporting goroutine and reports the final state.
func (p *progress) stop() {
	if p.fn == nil || p.quit == nil {
		return
	}
	close(p.quit)
	<-p.done
	p.quit = nil
	p.fn(p.snapshot())
}

func (p *progress) snapshot() Progress {
	return Progress{
		Files:      p.files.Load(),
		Bytes:      p.bytes.Load(),
		TotalFiles: p.totalFiles.Load(),
		TotalBytes: p.totalBytes.Load(),
		Elapsed:    time.Since(p.begin),
	}
}
