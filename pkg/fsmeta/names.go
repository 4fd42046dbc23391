package fsmeta

import (
	"errors"
	"os/user"
	"strconv"
	"sync"
)

// ErrSkip means an entry is of a kind that is not stored (sockets).
var ErrSkip = errors.New("not stored")

// Names caches uid and gid to name lookups for one run. It is safe for
// concurrent use.
type Names struct {
	mu     sync.Mutex
	users  map[uint32]string
	groups map[uint32]string
}

// NewNames returns an empty cache.
func NewNames() *Names {
	return &Names{users: map[uint32]string{}, groups: map[uint32]string{}}
}

// User returns the name of uid, or "" when it has none.
func (c *Names) User(uid uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name, ok := c.users[uid]; ok {
		return name
	}
	var name string
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		name = u.Username
	}
	c.users[uid] = name
	return name
}

// Group returns the name of gid, or "" when it has none.
func (c *Names) Group(gid uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name, ok := c.groups[gid]; ok {
		return name
	}
	var name string
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		name = g.Name
	}
	c.groups[gid] = name
	return name
}
