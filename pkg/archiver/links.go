package archiver

import (
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// linkTable makes a run read a hard-linked file once: the first link to be
// read (the leader) reads it, later links take its content. Only files with
// more than one link are entered, so the table stays small. The key holds
// the metadata that reuse depends on, so two links seen before and after a
// change are read separately.
type linkTable struct {
	mu sync.Mutex
	m  map[linkKey]*linkState
}

type linkKey struct {
	dev, ino, size uint64
	mtime, ctime   int64
}

type linkState struct {
	done      bool
	content   []crypto.ID
	res       fileResult
	followers []*fileJob
}

// join enters j, a link to the file described by n. It returns the link's
// state and whether j is its leader, which must read the file and call
// finish. If the leader has already finished, done is true and the state
// holds the result; otherwise a follower is completed by the leader's
// finish.
func (t *linkTable) join(n *snapshot.Node, j *fileJob) (link *linkState, leader, done bool) {
	key := linkKey{dev: n.Device, ino: n.Inode, size: n.Size, mtime: n.MTime, ctime: n.CTime}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[linkKey]*linkState)
	}
	link = t.m[key]
	switch {
	case link == nil:
		link = &linkState{}
		t.m[key] = link
		return link, true, false
	case link.done:
		return link, false, true
	}
	link.followers = append(link.followers, j)
	return link, false, false
}

// finish records the leader's result and returns the followers waiting
// for it.
func (t *linkTable) finish(link *linkState, content []crypto.ID, res fileResult) []*fileJob {
	t.mu.Lock()
	defer t.mu.Unlock()
	link.done, link.content, link.res = true, content, res
	followers := link.followers
	link.followers = nil
	return followers
}
