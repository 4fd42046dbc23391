package check

import (
	"errors"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
)

// snapshotFailed records a snapshot that could not be loaded. body is what
// LoadObject returned: non-nil when the object authenticated and the
// failure was decoding it, which is damage too.
func (c *checker) snapshotFailed(id crypto.ID, body []byte, err error) {
	if body != nil && !errors.Is(err, repo.ErrCorrupt) {
		c.errorf("snapshot %s is damaged: it authenticates but does not decode: %v", id, err)
		return
	}
	c.fail("snapshot "+id.String(), err)
}

// treeFailed records a tree blob that could not be loaded or decoded (body
// non-nil: it loaded, so decoding failed). Only a proven failure makes it
// lost; one the storage did not deliver leaves its subtree unchecked.
func (c *checker) treeFailed(id crypto.ID, body []byte, err error) {
	switch {
	case body != nil && !errors.Is(err, repo.ErrCorrupt):
		c.errorf("tree blob %s is damaged: it authenticates but does not decode: %v", id, err)
	case errors.Is(err, errNotIndexed):
		c.notIndexed(id, pack.TreeBlob)
		if c.indexIncomplete {
			return
		}
	case !c.fail("tree blob "+id.String(), err):
		return
	}
	c.mu.Lock()
	c.lostTrees[id] = true
	c.mu.Unlock()
}

// notIndexed records a referenced blob that no index object lists: damage,
// unless an index object could not be read and may list it.
func (c *checker) notIndexed(id crypto.ID, t pack.BlobType) {
	if c.indexIncomplete {
		c.unreadablef("%s blob %s is in no index object that could be read", t, id)
		return
	}
	c.errorf("%s blob %s is referenced but in no index", t, id)
}
