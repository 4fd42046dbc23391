package restorer

import (
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// recentBlobs keeps copies of the small blobs a restore delivered last, for
// pack plans that need one of them again (duplicate files far apart in a
// snapshot need a blob after its pack was fetched; see fetchPack).
//
// The copies live in one ring of bytes, overwritten oldest first: a cache
// of a copy per blob (an LRU of cloned slices) allocated as many bytes as
// the restore wrote, and its garbage cost a module-cache restore more CPU
// than the downloads it saved. Get copies out under the lock, so a blob
// being written to files is never one the ring is overwriting.
type recentBlobs struct {
	mu    sync.Mutex
	ring  []byte
	head  int64 // bytes written into the ring since it was made
	spans map[crypto.ID]recentSpan
	order []recentEntry // insertion order; order[first:] may be live
	first int
}

type recentSpan struct {
	at int64 // where the copy starts, counted like head
	n  int
}

type recentEntry struct {
	id crypto.ID
	at int64
}

// newRecentBlobs returns a ring of size bytes; blobs above size/32 are not
// kept (one large blob would push out hundreds of small ones).
func newRecentBlobs(size int) *recentBlobs {
	return &recentBlobs{ring: make([]byte, size), spans: map[crypto.ID]recentSpan{}}
}

func (c *recentBlobs) maxBlob() int { return len(c.ring) / 32 }

// add keeps a copy of plain as blob id (whose plaintext it must be: the
// caller has checked it against id).
func (c *recentBlobs) add(id crypto.ID, plain []byte) {
	n := len(plain)
	if n == 0 || n > c.maxBlob() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.spans[id]; ok {
		return
	}
	size := int64(len(c.ring))
	if pos := c.head % size; pos+int64(n) > size {
		c.head += size - pos // a copy is never split across the end
	}
	pos := c.head % size
	copy(c.ring[pos:], plain)
	c.spans[id] = recentSpan{at: c.head, n: n}
	c.order = append(c.order, recentEntry{id: id, at: c.head})
	c.head += int64(n)
	// Forget the copies the write reached.
	for c.first < len(c.order) && c.order[c.first].at < c.head-size {
		e := c.order[c.first]
		if s, ok := c.spans[e.id]; ok && s.at == e.at {
			delete(c.spans, e.id)
		}
		c.first++
	}
	if c.first > len(c.order)/2 {
		c.order = append(c.order[:0], c.order[c.first:]...)
		c.first = 0
	}
}

// get returns a copy of blob id if the ring still holds it.
func (c *recentBlobs) get(id crypto.ID) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.spans[id]
	size := int64(len(c.ring))
	if !ok || s.at < c.head-size {
		return nil, false
	}
	pos := s.at % size
	return append([]byte(nil), c.ring[pos:pos+int64(s.n)]...), true
}
