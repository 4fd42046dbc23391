package repo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// SaverOptions configure a Saver. Zero values select the defaults.
type SaverOptions struct {
	// Connections is the number of concurrent pack uploads; default the
	// repository's OpenOptions.Connections, and never more than the
	// store's ConcurrentPuts when it implements storage.PutConcurrency.
	// At most Connections+1 packs and the open tree pack are held in
	// memory at once.
	Connections int
	// IndexEvery makes the Saver write an intermediate index object every
	// IndexEvery uploaded packs (default 32), so that the packs of a
	// killed backup are indexed and reused by the next one. It also
	// writes one after the first pack, and whenever IndexBytes of packs
	// (default 256 MiB) or IndexInterval (default 5 minutes) have been
	// uploaded since the last one, so a backup killed at any point after
	// its first pack loses at most that much work to the next run.
	IndexEvery    int
	IndexBytes    int64
	IndexInterval time.Duration
	// VerifyExisting makes the Saver read and authenticate, once per run,
	// a stored copy of every blob it would deduplicate against in a pack
	// this run did not write, before trusting it. Without it, an index
	// entry written by any key holder is believed (see the trust model in
	// FORMAT.md). A copy that fails is reported through OpenOptions.Warn
	// and the blob is stored again.
	VerifyExisting bool
}

// Defaults of SaverOptions' intermediate index triggers.
const (
	DefaultIndexEvery    = 32
	DefaultIndexBytes    = 256 << 20
	DefaultIndexInterval = 5 * time.Minute
)

// SaveStats count a Saver's work.
type SaveStats struct {
	// Blobs counts SaveBlob calls; BlobsNew those that stored a blob.
	Blobs, BlobsNew int
	// BytesNew is the plaintext size of new blobs, BytesStored their
	// compressed and sealed size, Packs the packs uploaded.
	BytesNew, BytesStored, Packs int64
	// DataBytesNew is the part of BytesNew that is file content (data
	// blobs), what a backup's progress compares with the bytes it read.
	DataBytesNew int64
	// BlobsVerified counts stored copies read and authenticated before
	// deduplicating (SaverOptions.VerifyExisting); BlobsRefused those that
	// failed, whose blobs were stored again.
	BlobsVerified, BlobsRefused int
}

// Saver stores blobs for one run (a backup, or prune's repacking): it
// deduplicates them against the index, compresses, seals and packs them,
// uploads full packs with bounded concurrency and writes index objects for
// the packs it uploaded. It is safe for concurrent use. The CPU work of a
// blob (hashing, compression, sealing) runs in the calling goroutine outside
// any lock, so callers scale with cores; the lock covers only the dedup
// check and copying the sealed blob into its pack.
type Saver struct {
	repo       *Repository
	packSize   int
	indexEvery int
	indexBytes int64
	indexAfter time.Duration

	// slots holds one token per data pack in memory, open or uploading,
	// and per tree pack being uploaded, so memory stays bounded by
	// Connections+1 packs (and the open tree pack) whatever the callers
	// do. The open tree pack holds none: it grows slowly, usually stays
	// small, and would otherwise keep data packs from being filled while
	// one uploads. Slots are the only place callers wait (on their ctx
	// too): an upload goroutine is started per closed pack, never more
	// than there are slots, and waits for one of the Connections puts.
	slots chan struct{}
	puts  chan struct{}
	// packBufs holds the buffers of uploaded packs for the next data
	// packs; it never holds more than there are slots.
	packBufs chan []byte
	// blobBufs recycles the sealed-blob buffers of SaveBlobID (as
	// *[]byte).
	blobBufs  sync.Pool
	uploads   *errgroup.Group
	uploadCtx context.Context // cancelled when an upload fails

	mu      sync.Mutex
	open    [3]*openPack // by pack.BlobType: data and tree blobs go to separate packs
	pending map[blobKey]struct{}
	// verify is SaverOptions.VerifyExisting; trusted holds the blobs whose
	// stored copy this run has authenticated, own the packs it uploaded.
	verify  bool
	trusted map[blobKey]struct{}
	own     map[crypto.ID]struct{}
	// unindexed are the entries of uploaded packs not yet in an index
	// object, packsUnindexed how many packs they came from.
	unindexed      []index.Entry
	packsUnindexed int
	bytesUnindexed int64
	indexesWritten int       // intermediate index objects so far
	lastIndex      time.Time // when the last one was written (r.now)
	// firstIndex is the index object written after the first pack, and
	// firstEntries its entries, so that Flush can fold it into the final
	// one when it stayed the only intermediate index (a small backup then
	// leaves one index object, not two).
	firstIndex   crypto.ID
	firstEntries []index.Entry
	stats        SaveStats
	err          error // the first failure; every later call returns it
	flushed      bool
}

// blobKey identifies a blob accepted in this run whose pack is not yet
// uploaded. Data and tree blobs with the same content share an ID, so the
// type is part of the key.
type blobKey struct {
	t  pack.BlobType
	id crypto.ID
}

type openPack struct {
	builder pack.Builder
}

// packSlack is room beyond the target size for the blob that crosses it.
const packSlack = 2 << 20

// packBuffer returns the buffer for a new data pack: one of the target
// size up front, the buffer of an uploaded pack when there is one. Growing
// a 16 MiB buffer by doubling, under the Saver's lock, costs a quarter of
// the CPU time of saving random data, and allocating a fresh one for every
// pack (which the kernel must zero) a third. Tree packs of a typical backup
// stay far below the target size, so theirs start empty and grow.
func (s *Saver) packBuffer() []byte {
	select {
	case buf := <-s.packBufs:
		return buf
	default:
		return make([]byte, 0, s.packSize+packSlack)
	}
}

// recyclePack offers the buffer of an uploaded pack to later data packs.
func (s *Saver) recyclePack(buf []byte) {
	if cap(buf) < s.packSize+packSlack {
		return // a small tree pack
	}
	select {
	case s.packBufs <- buf:
	default: // every slot has a buffer
	}
}

// NewSaver returns a Saver that uploads packs under ctx until Flush. Its
// blobs are added to r.Index() as their packs are uploaded.
func (r *Repository) NewSaver(ctx context.Context, opts SaverOptions) *Saver {
	if opts.Connections <= 0 {
		opts.Connections = r.opts.Connections
	}
	if pc, ok := r.store.(storage.PutConcurrency); ok {
		opts.Connections = max(1, min(opts.Connections, pc.ConcurrentPuts()))
	}
	if opts.IndexEvery <= 0 {
		opts.IndexEvery = DefaultIndexEvery
	}
	if opts.IndexBytes <= 0 {
		opts.IndexBytes = DefaultIndexBytes
	}
	if opts.IndexInterval <= 0 {
		opts.IndexInterval = DefaultIndexInterval
	}
	g, gctx := errgroup.WithContext(ctx)
	// Never reached (each goroutine holds a slot); a backstop only.
	g.SetLimit(opts.Connections + 1)
	return &Saver{
		repo:       r,
		packSize:   r.cfg.PackSize,
		indexEvery: opts.IndexEvery,
		indexBytes: opts.IndexBytes,
		indexAfter: opts.IndexInterval,
		lastIndex:  r.now(),
		slots:      make(chan struct{}, opts.Connections+1),
		puts:       make(chan struct{}, opts.Connections),
		packBufs:   make(chan []byte, opts.Connections+1),
		blobBufs:   sync.Pool{New: func() any { return new([]byte) }},
		uploads:    g,
		uploadCtx:  gctx,
		pending:    make(map[blobKey]struct{}),
		verify:     opts.VerifyExisting,
		trusted:    make(map[blobKey]struct{}),
		own:        make(map[crypto.ID]struct{}),
	}
}

// SaveBlob stores data as a blob of type t unless the repository already
// has it, and returns its ID. It does not keep data after it returns, so
// callers may reuse the buffer.
func (s *Saver) SaveBlob(ctx context.Context, t pack.BlobType, data []byte) (crypto.ID, error) {
	hasher := s.repo.hashers.Get().(*crypto.IDHasher)
	id := hasher.Sum(data)
	s.repo.hashers.Put(hasher)
	_, err := s.SaveBlobID(ctx, t, id, data)
	return id, err
}

// SaveBlobID is SaveBlob for a caller that has computed id already. It
// reports whether the blob was new. A blob accepted as new is in the
// repository once Flush returns without error.
func (s *Saver) SaveBlobID(ctx context.Context, t pack.BlobType, id crypto.ID, data []byte) (added bool, err error) {
	if !t.Valid() {
		return false, fmt.Errorf("save blob %s: invalid type %d", id.Short(), t)
	}
	if len(data) > MaxBlobSize {
		return false, fmt.Errorf("save %s blob %s: %d bytes exceed the limit of %d", t, id.Short(), len(data), MaxBlobSize)
	}
	key := blobKey{t, id}
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return false, err
	}
	s.stats.Blobs++
	// An upload adds its entries to the index before removing them from
	// pending (both under s.mu for the removal), so a blob is always in
	// one or the other while this lock is held.
	if _, ok := s.pending[key]; ok {
		s.mu.Unlock()
		return false, nil
	}
	if s.repo.hasBlob(t, id) {
		if !s.verify || s.isTrusted(key) {
			s.mu.Unlock()
			return false, nil
		}
		s.mu.Unlock()
		good, err := s.verifyStored(ctx, t, id)
		if err != nil {
			return false, err
		}
		s.mu.Lock()
		if _, ok := s.pending[key]; ok || good {
			s.mu.Unlock()
			return false, nil
		}
		// No stored copy holds up: store it again, as if it were new.
	}
	s.pending[key] = struct{}{}
	s.stats.BlobsNew++
	s.stats.BytesNew += int64(len(data))
	if t == pack.DataBlob {
		s.stats.DataBytesNew += int64(len(data))
	}
	s.mu.Unlock()

	buf := s.blobBufs.Get().(*[]byte)
	sealed := pack.EncodeBlob(s.repo.enc, s.repo.keys, *buf, t, id, data)
	err = s.add(ctx, t, id, sealed, len(data))
	*buf = sealed
	s.blobBufs.Put(buf)
	if err != nil {
		// Other callers were told this blob is stored; make sure the
		// run fails rather than write a snapshot that references it.
		err = fmt.Errorf("save %s blob %s: %w", t, id.Short(), err)
		s.fail(err)
		return false, err
	}
	return true, nil
}

// hasBlob reports whether the index has blob id of type t in a pack that
// is not condemned. Data and tree blobs with equal content share an ID, so
// the type is checked (rarely needing more than one lookup).
func (r *Repository) hasBlob(t pack.BlobType, id crypto.ID) bool {
	if !r.idx.Has(id) {
		return false
	}
	if e, ok := r.idx.Lookup(id); ok && e.Type == t && !r.idx.IsCondemned(e.Pack) {
		return true
	}
	for _, e := range r.idx.LookupAll(id) {
		if e.Type == t && !r.idx.IsCondemned(e.Pack) {
			return true
		}
	}
	return false
}

// isTrusted reports whether this run authenticated a stored copy of key or
// stored one itself. s.mu is held.
func (s *Saver) isTrusted(key blobKey) bool {
	if _, ok := s.trusted[key]; ok {
		return true
	}
	for _, e := range s.repo.idx.LookupAll(key.id) {
		if _, mine := s.own[e.Pack]; mine && e.Type == key.t {
			return true
		}
	}
	return false
}

// verifyStored reads the stored copies of a blob that no condemned pack
// holds until one authenticates (AEAD and content ID), and records it as
// trusted. It reports false when none does; each failure is a warning that
// names the pack. Only a cancelled ctx is an error.
func (s *Saver) verifyStored(ctx context.Context, t pack.BlobType, id crypto.ID) (bool, error) {
	key := blobKey{t, id}
	for _, e := range s.repo.idx.LookupAll(id) {
		if e.Type != t || s.repo.idx.IsCondemned(e.Pack) {
			continue
		}
		_, err := s.repo.loadBlobAt(ctx, e)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		s.mu.Lock()
		if err == nil {
			s.trusted[key] = struct{}{}
			s.stats.BlobsVerified++
			s.mu.Unlock()
			return true, nil
		}
		s.stats.BlobsRefused++
		s.mu.Unlock()
		s.repo.warn(PackName(e.Pack), fmt.Errorf("the index claims %s blob %s here, but it does not hold up (%w); storing the blob again", t, id.Short(), err))
	}
	return false, nil
}

// usable returns the error that stops this Saver, if any. s.mu is held.
func (s *Saver) usable() error {
	if s.err != nil {
		return s.err
	}
	if s.flushed {
		return errors.New("repo: Saver used after Flush")
	}
	return nil
}

// fail records the first error of the run.
func (s *Saver) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// add copies a sealed blob into the open pack of its type, starting a pack
// when there is none (a data pack waits for a memory slot), and hands the
// pack to the upload pool when it reaches the target size (a tree pack
// waits for its slot then).
func (s *Saver) add(ctx context.Context, t pack.BlobType, id crypto.ID, sealed []byte, plainLen int) error {
	for {
		s.mu.Lock()
		if err := s.usable(); err != nil {
			s.mu.Unlock()
			return err
		}
		if s.open[t] == nil && t != pack.DataBlob {
			s.open[t] = &openPack{} // see slots
		}
		if p := s.open[t]; p != nil {
			p.builder.Add(t, id, sealed, plainLen)
			s.stats.BytesStored += int64(len(sealed))
			if p.builder.Size() < s.packSize {
				s.mu.Unlock()
				return nil
			}
			s.open[t] = nil
			s.mu.Unlock()
			if t != pack.DataBlob {
				if err := s.takeSlot(ctx); err != nil {
					return err
				}
			}
			s.upload(p)
			return nil
		}
		s.mu.Unlock()

		// Wait for a slot outside the lock: finishing uploads need it.
		if err := s.takeSlot(ctx); err != nil {
			return err
		}
		s.mu.Lock()
		taken := s.open[t] != nil // another caller opened one meanwhile
		s.mu.Unlock()
		if !taken {
			buf := s.packBuffer() // allocate outside the lock
			s.mu.Lock()
			if taken = s.open[t] != nil; !taken {
				p := &openPack{}
				p.builder.Reset(buf)
				s.open[t] = p
			}
			s.mu.Unlock()
			if taken {
				s.recyclePack(buf)
			}
		}
		if taken {
			<-s.slots
		}
	}
}

// takeSlot waits for a memory slot (see slots) and takes it.
func (s *Saver) takeSlot(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.uploadCtx.Done():
		s.mu.Lock()
		err := s.err
		s.mu.Unlock()
		if err == nil {
			err = context.Cause(s.uploadCtx)
		}
		return err
	}
}

// upload finishes a pack and uploads it in the pool. Its memory slot is
// released once the upload is done.
func (s *Saver) upload(p *openPack) {
	s.uploads.Go(func() error {
		data, entries := p.builder.Finish(s.repo.keys)
		id := crypto.Hash(data)
		name := PackName(id)
		var err error
		select {
		case s.puts <- struct{}{}:
			err = s.repo.putNew(s.uploadCtx, name, data)
			<-s.puts
		case <-s.uploadCtx.Done():
			err = context.Cause(s.uploadCtx)
		}
		if err != nil {
			<-s.slots
			// The buffer is not reused: a failed Put may not have
			// finished reading it.
			err = fmt.Errorf("upload pack %s: %w", name, err)
			s.fail(err)
			return err
		}
		// A tree pack goes into the local cache as uploaded: the next
		// backup, ls or restore on this machine reads its trees from
		// there instead of downloading them.
		if s.repo.packs != nil && len(entries) > 0 && entries[0].Type == pack.TreeBlob {
			s.repo.packs.keep(id, data)
		}
		// Before the slot is released, so that a buffer is ready for
		// the pack that takes it.
		s.recyclePack(data)
		<-s.slots
		added := make([]index.Entry, len(entries))
		for i, e := range entries {
			added[i] = index.Entry{ID: e.ID, Type: e.Type, Pack: id, Offset: e.Offset, Length: e.Length, PlainLen: e.PlainLen}
			s.repo.idx.Add(added[i])
		}

		var batch []index.Entry
		s.mu.Lock()
		for _, e := range entries {
			delete(s.pending, blobKey{e.Type, e.ID})
		}
		s.unindexed = append(s.unindexed, added...)
		s.own[id] = struct{}{}
		s.packsUnindexed++
		s.bytesUnindexed += int64(len(data))
		s.stats.Packs++
		if s.indexDue() {
			batch = s.unindexed
			s.unindexed, s.packsUnindexed, s.bytesUnindexed = nil, 0, 0
			s.indexesWritten++
			s.lastIndex = s.repo.now()
		}
		s.mu.Unlock()

		if batch != nil {
			id, err := s.repo.saveIndex(s.uploadCtx, index.Encode(batch, nil))
			s.mu.Lock()
			switch {
			case err != nil:
				// Not fatal: Flush writes these entries with the rest.
				s.unindexed = append(s.unindexed, batch...)
			case s.firstIndex.IsZero() && s.indexesWritten == 1:
				s.firstIndex, s.firstEntries = id, batch
			}
			s.mu.Unlock()
		}
		return nil
	})
}

// indexDue reports whether the uploaded but unindexed packs should be
// indexed now: after the first pack, then by count, bytes or time (see
// SaverOptions.IndexEvery). s.mu is held.
func (s *Saver) indexDue() bool {
	return s.indexesWritten == 0 ||
		s.packsUnindexed >= s.indexEvery ||
		s.bytesUnindexed >= s.indexBytes ||
		s.repo.now().Sub(s.lastIndex) >= s.indexAfter
}

// Stats returns the counts so far.
func (s *Saver) Stats() SaveStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Flush uploads the open packs, waits for every upload, writes the index
// object for the packs not yet indexed (adding it to the cache and to
// Index()), and then merges the repository's index objects if there are
// more than MaxIndexObjects. Call it once, after every SaveBlob has
// returned; the Saver cannot be used afterwards. An upload failure makes
// Flush fail with an error that names the pack.
func (s *Saver) Flush(ctx context.Context) (SaveStats, error) {
	s.mu.Lock()
	if s.flushed {
		s.mu.Unlock()
		return SaveStats{}, errors.New("repo: Flush called twice")
	}
	s.flushed = true
	open := s.open
	s.open = [3]*openPack{}
	s.mu.Unlock()
	for t, p := range open {
		if p == nil {
			continue
		}
		if pack.BlobType(t) != pack.DataBlob {
			if err := s.takeSlot(ctx); err != nil {
				s.fail(fmt.Errorf("flush: %w", err))
				continue // the wait below reports it
			}
		}
		s.upload(p)
	}

	done := make(chan error, 1)
	go func() { done <- s.uploads.Wait() }()
	select {
	case <-done:
	case <-ctx.Done():
		return s.Stats(), fmt.Errorf("flush: %w", ctx.Err())
	}

	s.mu.Lock()
	err, batch, stats := s.err, s.unindexed, s.stats
	s.unindexed, s.packsUnindexed, s.bytesUnindexed = nil, 0, 0
	s.mu.Unlock()
	if err != nil {
		return stats, err
	}
	if len(batch) > 0 {
		s.mu.Lock()
		var supersedes []crypto.ID
		if !s.firstIndex.IsZero() && s.indexesWritten == 1 {
			batch = append(batch, s.firstEntries...)
			supersedes = []crypto.ID{s.firstIndex}
		}
		s.mu.Unlock()
		if _, err := s.repo.saveIndex(ctx, index.Encode(batch, supersedes)); err != nil {
			return stats, fmt.Errorf("write index: %w", err)
		}
		// The final index holds every entry of the one it supersedes;
		// append-only credentials leave it for prune.
		for _, old := range supersedes {
			_ = s.repo.DeleteObject(ctx, KindIndex, old)
		}
	}
	// Index upkeep is an optimisation; its failure must not fail the run
	// whose data and index are already safe.
	_, _ = s.repo.CompactIndex(ctx, MaxIndexObjects)
	return stats, nil
}
