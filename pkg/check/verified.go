package check

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
)

// verified is the repository as Check sees it: every method of Repo, plus
// an index that Check built from the stored index objects it read and
// authenticated itself (never the repository's own, which may come from the
// local cache unchecked), and blob loading through that index.
type verified struct {
	Repo
	idx *index.Set
	// packs are the listed packs (filled in before any blob is loaded): a
	// location in a pack the listing did not show is proven bad.
	packs map[crypto.ID]int64
}

// Index returns the index Check loaded.
func (v *verified) Index() *index.Set { return v.idx }

// errNotIndexed means no index object Check could read lists the blob.
var errNotIndexed = errors.New("in no index")

// LoadBlob returns the plaintext of blob id of type t from the first of its
// locations that loads, through repo.LoadPackBlobs. When every location
// fails, the error wraps repo.ErrCorrupt only if every failure was damage:
// one location the storage did not deliver means the blob is not proven
// lost.
func (v *verified) LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error) {
	var errs []error
	corrupt := true
	for _, e := range v.idx.LookupAll(id) {
		if e.Type != t {
			continue
		}
		if _, ok := v.packs[e.Pack]; !ok {
			errs = append(errs, fmt.Errorf("%s: the pack does not exist: %w", repo.PackName(e.Pack), repo.ErrCorrupt))
			continue
		}
		var plain []byte
		err := v.LoadPackBlobs(ctx, e.Pack, []index.Entry{e}, repo.PackReadOptions{}, func(_ index.Entry, p []byte, err error) error {
			if err == nil {
				plain = append([]byte(nil), p...)
			}
			return err
		})
		if err == nil {
			return plain, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		corrupt = corrupt && errors.Is(err, repo.ErrCorrupt)
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s blob %s: %w", t, id, errNotIndexed)
	}
	if corrupt {
		return nil, errors.Join(errs...)
	}
	// Not wrapping the causes: one of them is damage, but the blob is not
	// proven lost while another copy may just have been unreachable.
	return nil, fmt.Errorf("%s blob %s: no copy could be read: %v", t, id, errors.Join(errs...))
}
