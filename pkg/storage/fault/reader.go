package fault

import (
	"io"
	"strings"
)

// readFault damages the data Get returns for names starting with prefix.
type readFault struct {
	prefix string
	// shortAfter >= 0 cuts the stream after that many bytes.
	shortAfter int64
	// corruptAt >= 0 flips the byte at that offset of the object.
	corruptAt int64
}

// ShortRead makes readers returned by Get for names starting with prefix
// yield at most n bytes and then fail with io.ErrUnexpectedEOF, like a
// connection reset mid-download. n counts bytes of the requested range, not
// of the object. A range of n bytes or fewer is delivered intact.
func (s *Store) ShortRead(prefix string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = append(s.reads, readFault{prefix: prefix, shortAfter: max(n, 0), corruptAt: -1})
}

// Corrupt makes Get return the byte at offset (counted from the start of
// the object) of objects whose names start with prefix with all its bits
// flipped. Ranged reads are corrupted only if they cover offset, so a
// checksum over any range that includes it fails, as with a bad disk
// sector. The stored object is not changed.
func (s *Store) Corrupt(prefix string, offset int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = append(s.reads, readFault{prefix: prefix, shortAfter: -1, corruptAt: offset})
}

// wrapReader applies the read faults matching name to rc, which starts at
// offset of the object.
func (s *Store) wrapReader(rc io.ReadCloser, name string, offset int64) io.ReadCloser {
	s.mu.Lock()
	var faults []readFault
	for _, f := range s.reads {
		if strings.HasPrefix(name, f.prefix) {
			faults = append(faults, f)
		}
	}
	s.mu.Unlock()
	if len(faults) == 0 {
		return rc
	}
	r := &faultyReader{rc: rc, pos: offset, remaining: -1}
	for _, f := range faults {
		if f.shortAfter >= 0 && (r.remaining < 0 || f.shortAfter < r.remaining) {
			r.remaining = f.shortAfter
		}
		if f.corruptAt >= 0 {
			r.corruptAt = append(r.corruptAt, f.corruptAt)
		}
	}
	return r
}

// faultyReader cuts the stream short and flips bytes.
type faultyReader struct {
	rc        io.ReadCloser
	pos       int64   // object offset of the next byte
	remaining int64   // bytes left before the cut; -1 means no cut
	corruptAt []int64 // object offsets of bytes to flip
	err       error   // sticky error once the stream has ended
}

func (r *faultyReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.remaining == 0 {
		// At the cut: fail only if the stream really goes on, so that
		// a range that fits is delivered intact.
		var probe [1]byte
		if n, err := io.ReadFull(r.rc, probe[:]); n == 0 {
			r.err = err
			return 0, err
		}
		r.err = io.ErrUnexpectedEOF
		return 0, r.err
	}
	if r.remaining > 0 && int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.rc.Read(p)
	for _, at := range r.corruptAt {
		if at >= r.pos && at < r.pos+int64(n) {
			p[at-r.pos] ^= 0xff
		}
	}
	r.pos += int64(n)
	if r.remaining > 0 {
		r.remaining -= int64(n)
	}
	if err != nil {
		r.err = err
	}
	return n, err
}

func (r *faultyReader) Close() error { return r.rc.Close() }
