package prune

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"golang.org/x/sync/errgroup"
)

// packInfo is what this run learned of one pack from its authenticated
// header. Packs are immutable under their names, so it is read once per
// run.
type packInfo struct {
	size   int64
	header []index.Entry // the header's entries; nil when it is unreadable
	// bad says why the pack may not be kept as the copy of a blob: its
	// header is damaged or implausible, an index entry does not match it,
	// or a blob failed to authenticate. "" when nothing is known against it.
	bad string
}

// readHeaders reads the headers of the packs not read yet, concurrently.
// A damaged header makes the pack bad; a storage failure stops prune, which
// must not act on a pack whose content it does not know.
func (p *pruner) readHeaders(ctx context.Context, packs []crypto.ID) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.opts.Connections)
	for _, pk := range packs {
		p.mu.Lock()
		_, done := p.packs[pk]
		p.mu.Unlock()
		if done {
			continue
		}
		g.Go(func() error {
			entries, size, err := p.r.ReadPackHeader(gctx, pk)
			info := &packInfo{size: size}
			switch {
			case errors.Is(err, repo.ErrCorrupt):
				info.bad = fmt.Sprintf("its header cannot be read: %v", err)
			case err != nil:
				return fmt.Errorf("prune: read the header of %s: %w; prune stopped before deleting it, try again", repo.PackName(pk), err)
			default:
				info.header = make([]index.Entry, len(entries))
				for i, e := range entries {
					info.header[i] = index.Entry{ID: e.ID, Type: e.Type, Pack: pk, Offset: e.Offset, Length: e.Length, PlainLen: e.PlainLen}
				}
				info.bad = implausible(info.header)
			}
			p.mu.Lock()
			p.packs[pk] = info
			p.mu.Unlock()
			if info.bad != "" {
				p.reportBad(pk, info.bad)
			}
			return nil
		})
	}
	return g.Wait()
}

// implausible checks what authentication cannot: that the header's entries
// are what a writer produces, in offset order and not overlapping (the
// pack package checks that they lie inside the blob area). A key holder can
// seal any header, for example one listing every blob of the repository at
// offset 0.
func implausible(header []index.Entry) string {
	for i := 1; i < len(header); i++ {
		prev, e := header[i-1], header[i]
		if int64(e.Offset) < int64(prev.Offset)+int64(prev.Length) {
			return fmt.Sprintf("its header places %s blob %s at offset %d, inside the blob before it (an implausible header)", e.Type, e.ID.Short(), e.Offset)
		}
	}
	return ""
}

// validate checks the index entries of pk against its header: an entry
// the header does not hold at the same place makes the pack bad, since the
// index then points at bytes nobody wrote as that blob.
func (p *pruner) validate(pk crypto.ID, entries []index.Entry) {
	info := p.info(pk)
	if info == nil || info.header == nil || info.bad != "" {
		return
	}
	type loc struct {
		id     crypto.ID
		offset uint32
	}
	inHeader := make(map[loc]index.Entry, len(info.header))
	for _, h := range info.header {
		inHeader[loc{h.ID, h.Offset}] = h
	}
	for _, e := range entries {
		if h, ok := inHeader[loc{e.ID, e.Offset}]; !ok || h.Type != e.Type || h.Length != e.Length {
			p.markBad(pk, fmt.Sprintf("an index entry places %s blob %s at offset %d, which its header does not", e.Type, e.ID.Short(), e.Offset))
			return
		}
	}
}

// info returns what is known of pk, nil if its header was not read.
func (p *pruner) info(pk crypto.ID) *packInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.packs[pk]
}

// isBad reports whether pk is known to be bad (or was never read).
func (p *pruner) isBad(pk crypto.ID) bool {
	info := p.info(pk)
	return info == nil || info.bad != ""
}

// markBad records why pk is bad, once, and reports whether it was news.
func (p *pruner) markBad(pk crypto.ID, why string) bool {
	p.mu.Lock()
	info := p.packs[pk]
	if info == nil {
		info = &packInfo{}
		p.packs[pk] = info
	}
	first := info.bad == ""
	if first {
		info.bad = why
	}
	p.mu.Unlock()
	if first {
		p.reportBad(pk, why)
	}
	return first
}

func (p *pruner) reportBad(pk crypto.ID, why string) {
	p.mu.Lock()
	name := repo.PackName(pk)
	if !slices.Contains(p.stats.BadPacks, name) {
		p.stats.BadPacks = append(p.stats.BadPacks, name)
		slices.Sort(p.stats.BadPacks)
	}
	p.mu.Unlock()
	p.logf("pack %s is never kept as a blob's copy: %s; run cairn check --read-data", name, why)
}

// holds returns every blob pk may hold: its header's entries and, in case
// the header is damaged or incomplete, the index's. A pack is deleted only
// when each referenced one among them has a proven copy elsewhere.
func (p *pruner) holds(pk crypto.ID, indexed []index.Entry) []index.Entry {
	var out []index.Entry
	if info := p.info(pk); info != nil {
		out = append(out, info.header...)
	}
	out = append(out, indexed...)
	slices.SortFunc(out, func(a, b index.Entry) int {
		if c := cmp.Compare(a.Offset, b.Offset); c != 0 {
			return c
		}
		return compareIDs(a.ID, b.ID)
	})
	return slices.CompactFunc(out, func(a, b index.Entry) bool {
		return a.ID == b.ID && a.Offset == b.Offset && a.Type == b.Type && a.Length == b.Length
	})
}
