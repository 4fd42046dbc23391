package copy

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/prune"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// TagChange is what cairn tag does to a snapshot's tags: Set replaces them
// (when SetGiven; an empty Set removes every tag), then Add adds and
// Remove removes.
type TagChange struct {
	Set      []string
	SetGiven bool
	Add      []string
	Remove   []string
}

// Apply returns tags changed by c, in order, each once.
func (c TagChange) Apply(tags []string) []string {
	out := slices.Clone(tags)
	if c.SetGiven {
		out = slices.Clone(c.Set)
	}
	out = append(out, c.Add...)
	out = slices.DeleteFunc(out, func(t string) bool { return t == "" || slices.Contains(c.Remove, t) })
	var uniq []string
	for _, t := range out {
		if !slices.Contains(uniq, t) {
			uniq = append(uniq, t)
		}
	}
	return uniq
}

// TagRepo is what Retag needs: snapshot objects, and deleting them.
// *repo.Repository satisfies it.
type TagRepo interface {
	snapshot.ObjectStore
	prune.SnapshotDeleter
}

// Retagged is one snapshot whose tags changed: Old was replaced by New.
type Retagged struct {
	Old, New crypto.ID
	Tags     []string
}

// Retag changes the tags of the snapshots entries. Snapshot objects are
// named by the hash of their bytes and never rewritten, so, as restic
// does, each changed snapshot is saved anew (recording the snapshot it
// was first made as in Original) and only then is the old one forgotten
// (with a forgotten record, FORMAT.md section 13). No write session is
// needed: the new snapshot references exactly the blobs of the old one,
// which exists until the new one does, so a prune that lists snapshots at
// any moment sees one of them. Snapshots whose tags stay the same are left
// alone. A failure stops at once and says which snapshots were done.
func Retag(ctx context.Context, r TagRepo, entries []snapshot.Entry, c TagChange) ([]Retagged, error) {
	var done []Retagged
	for _, e := range entries {
		tags := c.Apply(e.Snapshot.Tags)
		if slices.Equal(tags, e.Snapshot.Tags) {
			continue
		}
		sn := *e.Snapshot
		sn.Tags = tags
		sn.Original = e.Snapshot.Origin(e.ID)
		id, err := snapshot.Save(ctx, r, &sn)
		if err != nil {
			return done, fmt.Errorf("tag snapshot %s: %w", e.ID.Short(), err)
		}
		if err := prune.Forget(ctx, r, []crypto.ID{e.ID}); err != nil {
			return done, fmt.Errorf("tag snapshot %s: saved its replacement %s, but could not forget it: %w; "+
				"run cairn forget %s with credentials that may delete", e.ID.Short(), id.Short(), err, e.ID.Short())
		}
		done = append(done, Retagged{Old: e.ID, New: id, Tags: tags})
	}
	return done, nil
}

// ErrNoTagChange means a TagChange that asks for nothing.
var ErrNoTagChange = errors.New("give --add, --remove or --set")
