package prune

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
)

// sweep runs phase 2 for every marker that no live run blocks.
func (p *pruner) sweep(ctx context.Context) error {
	// Leases are listed before the index and the snapshots are read, so
	// every run this listing shows as done has its snapshot visible below.
	st, err := p.leases(ctx)
	if err != nil {
		return err
	}
	markers, err := p.loadMarkers(ctx)
	if err != nil {
		return err
	}
	p.stats.MarkersPending = 0
	var ready []marker
	for _, m := range markers {
		if b := st.blockers(m.id, p.run); len(b) > 0 {
			p.stats.MarkersPending++
			p.logf("deletion marker %s waits for %s", m.id.Short(), strings.Join(b, "; "))
			continue
		}
		if age := st.now.Sub(m.modTime); p.opts.Grace > 0 && age < p.opts.Grace {
			p.stats.MarkersPending++
			p.logf("deletion marker %s waits for its grace period (%v left)", m.id.Short(), p.opts.Grace-age)
			continue
		}
		ready = append(ready, m)
	}
	if len(ready) == 0 {
		return nil
	}

	if err := p.r.LoadIndex(ctx); err != nil {
		return fmt.Errorf("prune: %w; nothing was deleted", err)
	}
	_, refs, err := p.referenced(ctx)
	if err != nil {
		return err
	}
	sizes, err := p.listPacks(ctx)
	if err != nil {
		return err
	}
	// Markers again, now: a pack some marker condemns is no safe copy.
	current, err := p.loadMarkers(ctx)
	if err != nil {
		return err
	}
	v := &view{sizes: sizes, condemned: condemnedBy(current)}
	entries, err := p.packEntries(func(pk crypto.ID) bool { _, ok := sizes[pk]; return ok })
	if err != nil {
		return err
	}
	var targets []crypto.ID
	seen := make(map[crypto.ID]bool)
	for _, m := range ready {
		for _, pk := range m.Packs {
			if _, exists := sizes[pk]; exists && !seen[pk] {
				seen[pk] = true
				targets = append(targets, pk)
			}
		}
	}
	if err := p.readHeaders(ctx, targets); err != nil {
		return err
	}
	for _, pk := range targets {
		p.validate(pk, entries[pk])
	}
	why, err := p.proveAll(ctx, v, targets, entries, refs)
	if err != nil {
		return err
	}

	prog := Progress{Stage: StageSweep, TotalPacks: len(targets)}
	for _, pk := range targets {
		prog.TotalBytes += sizes[pk]
	}
	p.progress(prog)
	gone := make(map[crypto.ID]bool) // deleted now or by an interrupted sweep
	dealt := make(map[crypto.ID]bool)
	for _, m := range ready {
		for _, pk := range m.Packs {
			if gone[pk] {
				continue
			}
			size, exists := sizes[pk]
			if !exists {
				gone[pk] = true
				continue
			}
			first := !dealt[pk] // a pack two markers name counts once
			dealt[pk] = true
			if needed := why[pk]; needed != "" {
				p.stats.PacksRescued++
				p.logf("pack %s stays: %s", pk.Short(), needed)
			} else {
				if err := p.r.DeletePack(ctx, pk); err != nil {
					return deleteErr(repo.PackName(pk), err)
				}
				gone[pk] = true
				p.stats.PacksDeleted++
				p.stats.BytesFreed += size
			}
			if first {
				prog.Packs++
				prog.Bytes += size
				p.progress(prog)
			}
		}
	}
	if err := p.mergeIndex(ctx, gone); err != nil {
		return err
	}
	for _, m := range ready {
		if err := p.r.DeleteObject(ctx, repo.KindDeletion, m.id); err != nil {
			return deleteErr(repo.ObjectName(repo.KindDeletion, m.id), err)
		}
		p.stats.MarkersSwept++
	}
	return nil
}

// proveAll decides which condemned packs may go: a pack may when every
// referenced blob it may hold (header and index, see holds) has a copy in
// a usable, good pack that this run has read and authenticated or written
// itself. Copies are tried in index order until one authenticates; each
// copy that fails makes its pack bad. It returns why each pack that must
// stay does; the rest may be deleted. A pack no index mentions and whose
// header is unreadable holds nothing anyone can find, and may go.
func (p *pruner) proveAll(ctx context.Context, v *view, targets []crypto.ID, entries map[crypto.ID][]index.Entry, refs refSet) (map[crypto.ID]string, error) {
	type need struct {
		pk crypto.ID
		e  index.Entry
	}
	var needs []need
	var copyPacks []crypto.ID
	for _, pk := range targets {
		for _, e := range p.holds(pk, entries[pk]) {
			if !refs.has(e.ID, e.Type) {
				continue
			}
			needs = append(needs, need{pk, e})
			for _, c := range p.r.Index().LookupAll(e.ID) {
				if c.Type == e.Type && c.Pack != pk && v.usable(c.Pack) {
					copyPacks = append(copyPacks, c.Pack)
				}
			}
		}
	}
	// The packs of candidate copies must pass the same header checks.
	slices.SortFunc(copyPacks, compareIDs)
	copyPacks = slices.Compact(copyPacks)
	if err := p.readHeaders(ctx, copyPacks); err != nil {
		return nil, err
	}
	for _, pk := range copyPacks {
		p.validate(pk, entries[pk])
	}

	why := make(map[crypto.ID]string)
	for {
		var toRead []index.Entry
		for _, n := range needs {
			if why[n.pk] != "" {
				continue
			}
			c, ok := p.nextCopy(v, n.pk, n.e)
			switch {
			case !ok:
				why[n.pk] = fmt.Sprintf("its %s blob %s, which a snapshot needs, has no other copy this prune could read", n.e.Type, n.e.ID.Short())
			case !p.proven(c):
				toRead = append(toRead, c)
			}
		}
		if len(toRead) == 0 {
			return why, nil
		}
		if _, err := p.verify(ctx, toRead); err != nil {
			return nil, err
		}
		// Each round reads copies not read before, so this ends.
	}
}

// nextCopy returns the copy of e's blob to rely on: a proven one in a
// usable, good pack other than pk if there is one, else the first such copy
// not read yet; ok is false when none is left.
func (p *pruner) nextCopy(v *view, pk crypto.ID, e index.Entry) (index.Entry, bool) {
	var untried *index.Entry
	for _, c := range p.r.Index().LookupAll(e.ID) {
		if c.Type != e.Type || c.Pack == pk || !v.usable(c.Pack) || p.isBad(c.Pack) {
			continue
		}
		if p.proven(c) {
			return c, true
		}
		p.mu.Lock()
		_, tried := p.verified[keyOf(c)]
		p.mu.Unlock()
		if !tried && untried == nil {
			untried = &c
		}
	}
	if untried == nil {
		return index.Entry{}, false
	}
	return *untried, true
}

// mergeIndex writes one index object that supersedes every index object in
// use and leaves out the packs in drop, then deletes the objects it
// supersedes. It does nothing when there is a single index object that
// names none of the dropped packs.
func (p *pruner) mergeIndex(ctx context.Context, drop map[crypto.ID]bool) error {
	n, err := p.r.MergeIndex(ctx, func(pk crypto.ID) bool { return drop[pk] })
	p.stats.IndexesMerged += n
	if err != nil {
		return fmt.Errorf("prune: merge index: %w", err)
	}
	// Load the merged object, so the rest of this run uses it.
	if err := p.r.LoadIndex(ctx); err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	return nil
}
