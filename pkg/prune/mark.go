package prune

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// blobKey is a blob of one type.
type blobKey struct {
	id crypto.ID
	t  pack.BlobType
}

// plan is phase 1's decision.
type plan struct {
	snaps  []snapshot.Entry
	unused []crypto.ID // packs holding nothing referenced
	repack []crypto.ID // mostly unused packs, least used first
	// keep lists, for each pack to repack, the entries to copy out.
	keep map[crypto.ID][]index.Entry
	view *view
}

// makePlan reads the current state and decides what to condemn. Packs that
// markers already condemn are left to those markers.
//
// Every usable pack's header is read, and the index entries of each pack
// checked against it, before any entry is believed (packs.go). The copy of
// a referenced blob to keep is chosen among the indexed copies in packs
// that passed. A pack is condemned only when every referenced blob it may
// hold is copied out by repacking, or has its kept copy in a pack that
// stays, read and authenticated by this run (prove.go). A kept copy that
// fails to authenticate makes its pack bad, and the choice is made again
// without it.
func (p *pruner) makePlan(ctx context.Context) (*plan, error) {
	if err := p.r.LoadIndex(ctx); err != nil {
		return nil, fmt.Errorf("prune: %w; nothing was deleted", err)
	}
	snaps, refs, err := p.referenced(ctx)
	if err != nil {
		return nil, err
	}
	markers, err := p.loadMarkers(ctx)
	if err != nil {
		return nil, err
	}
	sizes, err := p.listPacks(ctx)
	if err == nil {
		err = p.loadPackTimes(ctx)
	}
	if err != nil {
		return nil, err
	}
	v := &view{sizes: sizes, condemned: condemnedBy(markers)}
	entries, err := p.packEntries(v.usable)
	if err != nil {
		return nil, err
	}
	var usable []crypto.ID
	for pk := range sizes {
		if v.usable(pk) {
			usable = append(usable, pk)
		}
	}
	slices.SortFunc(usable, compareIDs)
	if err := p.readHeaders(ctx, usable); err != nil {
		return nil, err
	}
	for _, pk := range usable {
		p.validate(pk, entries[pk])
	}
	for {
		pl, needs, err := p.choose(snaps, refs, v, usable, entries)
		if err != nil {
			return nil, err
		}
		newBad, err := p.verify(ctx, needs)
		if err != nil {
			return nil, err
		}
		if !newBad {
			return pl, nil
		}
		// Each round makes at least one more pack bad, so this ends.
	}
}

// choose makes one plan with the packs known to be good, and returns the
// kept copies that must be read before the plan's packs may be condemned.
func (p *pruner) choose(snaps []snapshot.Entry, refs refSet, v *view, usable []crypto.ID, entries map[crypto.ID][]index.Entry) (*plan, []index.Entry, error) {
	// One copy of each referenced blob is kept: the one in the pack with
	// the most referenced bytes, so duplicates drain out of sparse packs.
	// Bad packs hold no copy worth keeping.
	score := make(map[crypto.ID]int64)
	stored := make(map[crypto.ID]int64) // blob bytes, without the header
	for _, pk := range usable {
		for _, e := range p.holds(pk, entries[pk]) {
			stored[pk] += int64(e.Length)
		}
		if p.isBad(pk) {
			continue
		}
		for _, e := range entries[pk] {
			if refs.has(e.ID, e.Type) {
				score[pk] += int64(e.Length)
			}
		}
	}
	keeper := make(map[blobKey]index.Entry)
	for _, pk := range usable {
		if p.isBad(pk) {
			continue
		}
		for _, e := range entries[pk] {
			if !refs.has(e.ID, e.Type) {
				continue
			}
			k := blobKey{e.ID, e.Type}
			if cur, ok := keeper[k]; !ok || betterKeeper(e, cur, score) {
				keeper[k] = e
			}
		}
	}
	if err := p.checkAllFound(refs, keeper, v); err != nil {
		return nil, nil, err
	}

	used := make(map[crypto.ID]int64)
	keep := make(map[crypto.ID][]index.Entry)
	for _, e := range keeper {
		used[e.Pack] += int64(e.Length)
		keep[e.Pack] = append(keep[e.Pack], e)
	}
	pl := &plan{snaps: snaps, keep: make(map[crypto.ID][]index.Entry), view: v}
	type candidate struct {
		pk    crypto.ID
		ratio float64
	}
	var candidates []candidate
	young := 0
	for _, pk := range usable {
		if p.young(pk) && (used[pk] == 0 || p.opts.RepackThreshold > 0 && float64(used[pk]) < p.opts.RepackThreshold*float64(stored[pk])) {
			young++
			continue
		}
		// The share of the pack's blob bytes in use: headers do not
		// count, or small packs of small tree blobs would be repacked
		// into equally small packs forever.
		switch u := used[pk]; {
		case u == 0:
			pl.unused = append(pl.unused, pk)
		case p.opts.RepackThreshold > 0 && float64(u) < p.opts.RepackThreshold*float64(stored[pk]):
			candidates = append(candidates, candidate{pk, float64(u) / float64(stored[pk])})
		}
	}
	p.stats.PacksTooYoung = young
	slices.SortFunc(candidates, func(a, b candidate) int {
		if c := cmp.Compare(a.ratio, b.ratio); c != 0 {
			return c
		}
		return compareIDs(a.pk, b.pk)
	})
	var budget int64
	for _, c := range candidates {
		if p.opts.MaxRepackBytes > 0 && budget+used[c.pk] > p.opts.MaxRepackBytes {
			continue
		}
		budget += used[c.pk]
		pl.repack = append(pl.repack, c.pk)
		es := keep[c.pk]
		slices.SortFunc(es, func(a, b index.Entry) int { return cmp.Compare(a.Offset, b.Offset) })
		pl.keep[c.pk] = es
	}

	// What condemning each pack needs: every referenced blob it may hold
	// is either copied out (its kept copy is in a pack being repacked) or
	// kept in a pack that stays, and then that copy must be read. A blob
	// with no copy to keep pins the pack.
	pinned := make(map[crypto.ID]bool)
	for _, pk := range append(slices.Clone(pl.unused), pl.repack...) {
		for _, e := range p.holds(pk, entries[pk]) {
			if _, ok := keeper[blobKey{e.ID, e.Type}]; !ok && refs.has(e.ID, e.Type) {
				p.logf("pack %s stays: its %s blob %s has no other copy that can be kept", pk.Short(), e.Type, e.ID.Short())
				pinned[pk] = true
				break
			}
		}
	}
	isPinned := func(pk crypto.ID) bool { return pinned[pk] }
	pl.unused = slices.DeleteFunc(pl.unused, isPinned)
	pl.repack = slices.DeleteFunc(pl.repack, isPinned)
	for pk := range pinned {
		delete(pl.keep, pk)
	}
	repacked := make(map[crypto.ID]bool, len(pl.repack))
	for _, pk := range pl.repack {
		repacked[pk] = true
	}
	var needs []index.Entry
	for _, pk := range append(slices.Clone(pl.unused), pl.repack...) {
		for _, e := range p.holds(pk, entries[pk]) {
			if !refs.has(e.ID, e.Type) {
				continue
			}
			// Copied out by this run's Saver, or kept in a pack that
			// stays: then that copy must be read.
			if kept := keeper[blobKey{e.ID, e.Type}]; !repacked[kept.Pack] && !p.proven(kept) {
				needs = append(needs, kept)
			}
		}
	}
	return pl, needs, nil
}

// betterKeeper reports whether e is a better copy to keep than cur: in a
// pack with more referenced bytes, then the lower pack ID and offset, so
// the choice is deterministic.
func betterKeeper(e, cur index.Entry, score map[crypto.ID]int64) bool {
	if c := cmp.Compare(score[e.Pack], score[cur.Pack]); c != 0 {
		return c > 0
	}
	if c := compareIDs(e.Pack, cur.Pack); c != 0 {
		return c < 0
	}
	return e.Offset < cur.Offset
}

// checkAllFound refuses to go on when a referenced blob is in no pack that
// exists: the repository is damaged, and deleting anything could make it
// worse. Blobs found only in condemned packs are fine: a sweep rescues them.
func (p *pruner) checkAllFound(refs refSet, keeper map[blobKey]index.Entry, v *view) error {
	var missing []blobKey
	refs.each(func(id crypto.ID, t pack.BlobType) {
		if _, ok := keeper[blobKey{id, t}]; ok {
			return
		}
		for _, e := range p.r.Index().LookupAll(id) {
			if _, exists := v.sizes[e.Pack]; exists && e.Type == t {
				return
			}
		}
		missing = append(missing, blobKey{id, t})
	})
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("prune: %d blobs that snapshots need are in no existing pack (for example %s blob %s); the repository is damaged, nothing was deleted: run cairn check",
		len(missing), missing[0].t, missing[0].id)
}

// mark runs phase 1: it repacks mostly unused packs and writes a marker
// condemning them and the unused ones. It reports whether it wrote one.
func (p *pruner) mark(ctx context.Context) (bool, error) {
	pl, err := p.makePlan(ctx)
	if err != nil {
		return false, err
	}
	condemn := append(slices.Clone(pl.unused), pl.repack...)
	if len(condemn) == 0 {
		return false, nil
	}
	if err := p.repack(ctx, pl); err != nil {
		return false, err
	}
	seen := make([]crypto.ID, len(pl.snaps))
	for i, e := range pl.snaps {
		seen[i] = e.ID
	}
	st, err := p.leases(ctx)
	if err != nil {
		return false, err
	}
	slices.SortFunc(condemn, compareIDs)
	id, err := p.r.SaveDeletion(ctx, repo.Deletion{Created: st.now, Packs: condemn, SnapshotsSeen: seen})
	if err != nil {
		return false, fmt.Errorf("prune: write deletion marker: %w", err)
	}
	p.stats.Markers++
	p.countCondemned(pl)
	p.logf("deletion marker %s condemns %d packs (%d repacked)", id.Short(), len(condemn), len(pl.repack))
	return true, nil
}

func (p *pruner) countCondemned(pl *plan) {
	for _, pk := range append(slices.Clone(pl.unused), pl.repack...) {
		p.stats.PacksCondemned++
		p.stats.BytesCondemned += pl.view.sizes[pk]
	}
	p.stats.PacksRepacked = len(pl.repack)
	for _, pk := range pl.repack {
		for _, e := range pl.keep[pk] {
			p.stats.BlobsRepacked++
			p.stats.BytesRepacked += int64(e.Length)
		}
	}
}

// dryRun reports what phase 1 would do and how many markers exist.
func (p *pruner) dryRun(ctx context.Context) error {
	pl, err := p.makePlan(ctx)
	if err != nil {
		return err
	}
	markers, err := p.loadMarkers(ctx)
	if err != nil {
		return err
	}
	p.stats.MarkersPending = len(markers)
	p.countCondemned(pl)
	return nil
}

func compareIDs(a, b crypto.ID) int { return bytes.Compare(a[:], b[:]) }

// packTimer is implemented by repositories that can list the packs'
// server times (*repo.Repository).
type packTimer interface {
	PackTimes(ctx context.Context) (map[crypto.ID]time.Time, error)
}

// loadPackTimes reads the packs' server times when MinPackAge needs them.
func (p *pruner) loadPackTimes(ctx context.Context) error {
	if p.opts.MinPackAge <= 0 {
		return nil
	}
	pt, ok := p.r.(packTimer)
	if !ok {
		return fmt.Errorf("prune: --min-pack-age needs pack times, which this repository cannot list")
	}
	times, err := pt.PackTimes(ctx)
	if err != nil {
		return fmt.Errorf("prune: list pack times: %w", err)
	}
	p.packTimes = times
	return nil
}

// young reports whether pk is younger than MinPackAge: neither deleted
// nor repacked yet. A pack without a known time counts as young.
func (p *pruner) young(pk crypto.ID) bool {
	if p.opts.MinPackAge <= 0 {
		return false
	}
	t, ok := p.packTimes[pk]
	return !ok || time.Since(t) < p.opts.MinPackAge
}
