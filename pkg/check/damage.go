package check

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// reportDamage works out which blobs are lost (no intact copy) and which
// paths of which snapshots need them.
func (c *checker) reportDamage(ctx context.Context) error {
	lost := make(map[crypto.ID]bool)
	for id, t := range c.suspect {
		if c.allBad(id, t) {
			lost[id] = true
		}
	}
	for id := range c.unindexed {
		if c.indexIncomplete && len(c.r.Index().LookupAll(id)) == 0 {
			continue // an index object that could not be read may list it
		}
		lost[id] = true
	}
	for id := range c.lostTrees {
		lost[id] = true
	}
	c.report.DamagedBlobs = sortedIDs(lost)
	if len(lost) == 0 {
		return nil
	}

	a := &affectedFinder{c: c, lost: lost, memo: make(map[string][]string)}
	snaps := make(map[crypto.ID]bool)
	for i, e := range c.snaps {
		c.progress(StageDamage, i, len(c.snaps))
		paths, err := a.paths(ctx, e.Snapshot.Tree)
		if err != nil {
			return err
		}
		for _, p := range paths {
			c.report.Affected = append(c.report.Affected, Affected{Snapshot: e.ID, Time: e.Snapshot.Time, Path: "/" + p})
			snaps[e.ID] = true
		}
	}
	c.progress(StageDamage, len(c.snaps), len(c.snaps))
	c.errorf("%d blobs are lost (no intact copy left); %d paths in %d snapshots cannot be restored completely",
		len(lost), len(c.report.Affected), len(snaps))
	return nil
}

// allBad reports whether every location of blob id (of type t) is bad or in
// a pack that does not exist.
func (c *checker) allBad(id crypto.ID, t pack.BlobType) bool {
	for _, e := range c.r.Index().LookupAll(id) {
		if e.Type != t {
			continue
		}
		if _, exists := c.packs[e.Pack]; !exists {
			continue
		}
		if !c.badLoc[location{e.ID, e.Pack, e.Offset}] {
			return false
		}
	}
	return true
}

// affectedFinder maps lost blobs to paths. Results are memoized per
// directory (by its list of tree blobs), so identical directories shared by
// many snapshots are examined once.
type affectedFinder struct {
	c    *checker
	lost map[crypto.ID]bool
	memo map[string][]string
}

// paths returns the paths, relative to the directory made of subtree, that
// need a lost blob: "" stands for the directory itself (one of its own tree
// blobs is lost), "a/b" for an entry below it.
func (a *affectedFinder) paths(ctx context.Context, subtree []crypto.ID) ([]string, error) {
	key := dirKey(subtree)
	if out, ok := a.memo[key]; ok {
		return out, nil
	}
	var out []string
	for _, id := range subtree {
		if a.lost[id] {
			out = append(out, "")
			continue
		}
		body, err := a.c.r.LoadBlob(ctx, pack.TreeBlob, id)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var nodes []snapshot.Node
		if err == nil {
			nodes, err = snapshot.DecodeTree(body)
		}
		if err != nil {
			// Loaded fine during the walk; failing now with damage
			// means it is damaged after all. A tree the storage does
			// not deliver now is not proven lost.
			if errors.Is(err, repo.ErrCorrupt) || body != nil {
				out = append(out, "")
			} else {
				a.c.unreadablef("tree blob %s (for the damage report): %v", id, err)
			}
			continue
		}
		for i := range nodes {
			n := &nodes[i]
			name := string(n.Name)
			switch n.Type {
			case snapshot.NodeFile:
				for _, b := range n.Content {
					if a.lost[b] {
						out = append(out, name)
						break
					}
				}
			case snapshot.NodeDir:
				sub, err := a.paths(ctx, n.Subtree)
				if err != nil {
					return nil, err
				}
				for _, s := range sub {
					if s == "" {
						out = append(out, name)
					} else {
						out = append(out, name+"/"+s)
					}
				}
			}
		}
	}
	a.memo[key] = out
	return out, nil
}

func dirKey(subtree []crypto.ID) string {
	var b strings.Builder
	b.Grow(len(subtree) * crypto.IDSize)
	for _, id := range subtree {
		b.Write(id[:])
	}
	return b.String()
}

// String formats an affected path for output.
func (a Affected) String() string {
	return fmt.Sprintf("snapshot %s (%s): %s", a.Snapshot.Short(), a.Time.Format("2006-01-02 15:04:05"), a.Path)
}
