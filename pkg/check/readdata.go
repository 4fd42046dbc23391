package check

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"golang.org/x/sync/errgroup"
)

// Subset selects the packs that ReadData reads.
type Subset struct {
	// N and M select packs whose first ID byte modulo M is N-1.
	N, M int
	// Percent, when N and M are zero, selects a random sample of that
	// share of the packs (at least one pack when there are any).
	Percent float64
}

// maxSubsets bounds M: the selection uses one byte of the pack ID.
const maxSubsets = 256

// ParseSubset parses "n/m" (1 <= n <= m <= 256) or "x%" (0 < x <= 100).
// Running n/m for n = 1…m reads every pack exactly once, as the subsets
// partition the packs by their first ID byte; packs written in between are
// picked up by the next round.
func ParseSubset(s string) (Subset, error) {
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		p, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if err != nil || !(p > 0 && p <= 100) {
			return Subset{}, fmt.Errorf("read-data subset %q: give a percentage above 0 and at most 100, such as 10%%", s)
		}
		return Subset{Percent: p}, nil
	}
	ns, ms, ok := strings.Cut(s, "/")
	n, errN := strconv.Atoi(strings.TrimSpace(ns))
	m, errM := strconv.Atoi(strings.TrimSpace(ms))
	if !ok || errN != nil || errM != nil || n < 1 || n > m || m > maxSubsets {
		return Subset{}, fmt.Errorf("read-data subset %q: give n/m with 1 <= n <= m <= %d, or a percentage such as 10%%", s, maxSubsets)
	}
	return Subset{N: n, M: m}, nil
}

// Select returns the packs of ids (sorted) the subset picks. The zero
// Subset picks all of them.
func (s Subset) Select(ids []crypto.ID) []crypto.ID {
	switch {
	case s.M > 0:
		var out []crypto.ID
		for _, id := range ids {
			if int(id[0])%s.M == s.N-1 {
				out = append(out, id)
			}
		}
		return out
	case s.Percent > 0:
		k := int(math.Ceil(float64(len(ids)) * s.Percent / 100))
		k = min(k, len(ids))
		out := make([]crypto.ID, 0, k)
		for _, i := range rand.Perm(len(ids))[:k] {
			out = append(out, ids[i])
		}
		slices.SortFunc(out, compareIDs)
		return out
	}
	return ids
}

// readData downloads the selected packs and verifies them.
func (c *checker) readData(ctx context.Context, subset Subset) error {
	all := make([]crypto.ID, 0, len(c.packs))
	for p := range c.packs {
		all = append(all, p)
	}
	slices.SortFunc(all, compareIDs)
	todo := subset.Select(all)
	prog := ReadProgress{TotalPacks: len(todo)}
	for _, p := range todo {
		prog.TotalBytes += c.packs[p]
	}
	c.readProgress(prog)

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Connections)
	for _, p := range todo {
		g.Go(func() error {
			read, err := c.readPack(gctx, p)
			if err != nil {
				return err
			}
			c.mu.Lock()
			prog.Packs++
			prog.Bytes += c.packs[p]
			now := prog
			if read {
				c.report.PacksRead++
			}
			c.mu.Unlock()
			c.progress(StageReadData, now.Packs, now.TotalPacks)
			c.readProgress(now)
			return nil
		})
	}
	return g.Wait()
}

// readPack downloads pack p once (repo.LoadPackBlobs with WholePack),
// checks it against its name and opens every blob the index places in it.
// Bytes that arrive and fail their checks are damage; a pack the storage
// does not deliver is unreadable, whatever the reason. Only a cancelled
// context is returned as an error. It reports whether the whole pack was
// read (damaged or not).
func (c *checker) readPack(ctx context.Context, p crypto.ID) (bool, error) {
	size := c.packs[p]
	var entries []index.Entry
	for _, e := range c.byPack[p] {
		if int64(e.Offset)+int64(e.Length)+packTrailer <= size {
			entries = append(entries, e) // the others checkPacks reported
		}
	}
	unread := 0
	var firstUnread error
	err := c.r.LoadPackBlobs(ctx, p, entries, repo.PackReadOptions{WholePack: true}, func(e index.Entry, _ []byte, err error) error {
		switch {
		case err == nil:
		case errors.Is(err, repo.ErrCorrupt):
			c.errorf("pack %s: %v", p, err)
			c.markDamaged(p)
			c.markBad(e)
		default:
			if unread == 0 {
				firstUnread = err
			}
			unread++
		}
		return nil
	})
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	switch {
	case errors.Is(err, repo.ErrCorrupt):
		c.errorf("pack %s: %v: the pack is damaged", p, err)
		c.markDamaged(p)
	case err != nil:
		c.unreadablef("pack %s: %v", p, err)
		return false, nil
	case unread > 0:
		c.unreadablef("pack %s: %d blobs could not be read: %v", p, unread, firstUnread)
		return false, nil
	}
	return true, nil
}
