package prune

import (
	"context"
	"errors"
	"fmt"
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
		return fmt.Errorf("prune: %w", err)
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
	inReady := make(map[crypto.ID]bool)
	for _, m := range ready {
		for _, pk := range m.Packs {
			inReady[pk] = true
		}
	}
	entries, err := p.packEntries(func(pk crypto.ID) bool { return inReady[pk] })
	if err != nil {
		return err
	}

	gone := make(map[crypto.ID]bool) // deleted now or by an interrupted sweep
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
			needed, err := p.needed(ctx, v, pk, entries[pk], refs)
			if err != nil {
				return err
			}
			if needed != "" {
				p.stats.PacksRescued++
				p.logf("pack %s stays: %s", pk.Short(), needed)
				continue
			}
			if err := p.r.Store().Delete(ctx, repo.PackName(pk)); err != nil {
				return deleteErr(repo.PackName(pk), err)
			}
			gone[pk] = true
			p.stats.PacksDeleted++
			p.stats.BytesFreed += size
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

// needed returns why condemned pack pk must stay ("" if it may go): it
// holds a referenced blob with no copy in a usable pack. A pack no index
// mentions is judged by its header.
func (p *pruner) needed(ctx context.Context, v *view, pk crypto.ID, entries []index.Entry, refs refSet) (string, error) {
	if len(entries) == 0 {
		header, _, err := p.r.ReadPackHeader(ctx, pk)
		switch {
		case errors.Is(err, repo.ErrCorrupt):
			// Unindexed and unreadable: nothing can ever use it.
			return "", nil
		case err != nil:
			return "", fmt.Errorf("prune: %w", err)
		}
		for _, h := range header {
			entries = append(entries, index.Entry{ID: h.ID, Type: h.Type, Pack: pk, Offset: h.Offset, Length: h.Length})
		}
	}
	for _, e := range entries {
		if refs.has(e.ID, e.Type) && !p.hasCopy(v, e.ID, e.Type, pk) {
			return fmt.Sprintf("a snapshot written after it was condemned needs its %s blob %s", e.Type, e.ID.Short()), nil
		}
	}
	return "", nil
}

// mergeIndex writes one index object that supersedes every index object in
// use and leaves out the packs in drop, then deletes the objects it
// supersedes. It does nothing when there is a single index object that
// names none of the dropped packs.
func (p *pruner) mergeIndex(ctx context.Context, drop map[crypto.ID]bool) error {
	set := p.r.Index()
	names, views := set.Names(), set.Views()
	old := append(set.Names(), set.Superseded()...)
	dropping := false
	for _, v := range views {
		for _, pk := range v.Packs() {
			dropping = dropping || drop[pk]
		}
	}
	if !dropping && len(old) <= 1 {
		return nil
	}
	body, err := index.TryMerge(views, names, func(pk crypto.ID) bool { return drop[pk] })
	if err != nil {
		return fmt.Errorf("prune: merge index: %w", err)
	}
	merged, err := p.r.SaveObject(ctx, repo.KindIndex, body)
	if err != nil {
		return fmt.Errorf("prune: write merged index: %w", err)
	}
	for _, id := range old {
		if id == merged {
			continue
		}
		if err := p.r.DeleteObject(ctx, repo.KindIndex, id); err != nil {
			return deleteErr(repo.ObjectName(repo.KindIndex, id), err)
		}
		p.stats.IndexesMerged++
	}
	// Load the merged object, so the rest of this run uses it.
	if err := p.r.LoadIndex(ctx); err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	return nil
}
