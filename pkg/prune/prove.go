package prune

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"golang.org/x/sync/errgroup"
)

// copyKey is one stored copy of a blob: where an index entry says it is.
type copyKey struct {
	pack   crypto.ID
	id     crypto.ID
	t      pack.BlobType
	offset uint32
	length uint32
}

func keyOf(e index.Entry) copyKey {
	return copyKey{pack: e.Pack, id: e.ID, t: e.Type, offset: e.Offset, length: e.Length}
}

// proven reports whether this run has read and authenticated the copy e, or
// written it.
func (p *pruner) proven(e index.Entry) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.verified[keyOf(e)]
}

// wrote records a copy this run's Saver stored: as good as one it read.
func (p *pruner) wrote(e index.Entry) {
	p.mu.Lock()
	p.verified[keyOf(e)] = true
	p.mu.Unlock()
}

// verify reads and authenticates (AEAD and content ID, by LoadPackBlobs)
// the copies it has not read yet, one request run per pack, packs
// concurrently. A copy whose bytes fail makes its pack bad; it reports
// whether any pack became bad. A storage failure stops prune: a copy it
// could not read is no proof either way.
func (p *pruner) verify(ctx context.Context, copies []index.Entry) (bool, error) {
	byPack := make(map[crypto.ID][]index.Entry)
	seen := make(map[copyKey]bool)
	p.mu.Lock()
	for _, e := range copies {
		k := keyOf(e)
		if _, done := p.verified[k]; done || seen[k] {
			continue
		}
		seen[k] = true
		byPack[e.Pack] = append(byPack[e.Pack], e)
	}
	p.mu.Unlock()

	var (
		mu     sync.Mutex
		newBad bool
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.opts.Connections)
	for pk, es := range byPack {
		g.Go(func() error {
			return p.r.LoadPackBlobs(gctx, pk, es, repo.PackReadOptions{}, func(e index.Entry, _ []byte, err error) error {
				switch {
				case err == nil:
					p.mu.Lock()
					p.verified[keyOf(e)] = true
					p.stats.BlobsVerified++
					p.mu.Unlock()
				case errors.Is(err, repo.ErrCorrupt):
					p.mu.Lock()
					p.verified[keyOf(e)] = false
					p.mu.Unlock()
					if p.markBad(pk, fmt.Sprintf("its %s blob %s does not authenticate (%v)", e.Type, e.ID.Short(), err)) {
						mu.Lock()
						newBad = true
						mu.Unlock()
					}
				default:
					return fmt.Errorf("prune: read %s blob %s in %s to prove it is a copy: %w; prune stopped, try again", e.Type, e.ID.Short(), repo.PackName(pk), err)
				}
				return nil
			})
		})
	}
	err := g.Wait()
	return newBad, err
}
