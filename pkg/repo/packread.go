package repo

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// PackGap is the largest run of unneeded bytes LoadPackBlobs reads through
// inside one request: reading 4 MiB more is cheaper than another round
// trip, except on links much faster than 4 MiB per request latency.
const PackGap = 4 << 20

// PackReadOptions configure LoadPackBlobs.
type PackReadOptions struct {
	// WholePack reads the pack from its first byte to its last in one
	// request and checks its SHA-256 against its name; a mismatch is
	// returned as an error wrapping ErrCorrupt after every blob was
	// handed to fn. check --read-data uses it.
	WholePack bool
	// Copy, with WholePack, receives every byte of the pack as it is
	// read (the local tree pack cache writes it to a file). The bytes are
	// trustworthy only when LoadPackBlobs returns nil: the hash is known
	// only at the end.
	Copy io.Writer
	// MaxGap, when positive, replaces PackGap as the largest run of
	// unneeded bytes read through in one request; negative reads no gap.
	// Restore sets a small one for a pack it fetches a second time, whose
	// gaps hold the blobs it has already.
	MaxGap int64
	// MaxSize, with WholePack and when positive, bounds the bytes read: a
	// pack longer than MaxSize, or an entry ending beyond it, gives an
	// error wrapping ErrPackTooLarge, which is no damage (read its blobs
	// by range instead). At most MaxSize+1 bytes are requested.
	MaxSize int64
}

// ErrPackTooLarge means a whole-pack read stopped at PackReadOptions.MaxSize.
var ErrPackTooLarge = errors.New("the pack is larger than a whole-pack read here may be")

// BlobFunc receives one blob of LoadPackBlobs: its plaintext, valid only
// during the call, or why it could not be loaded. An error wrapping
// ErrCorrupt means bytes were received and failed their checks (content
// damage); any other error means the storage did not deliver them (missing,
// unreachable, cut off). A non-nil return stops LoadPackBlobs, which
// returns it.
type BlobFunc func(e index.Entry, plain []byte, err error) error

// LoadPackBlobs is the one path by which whole runs of blobs are read from a
// pack: restore, check --read-data, prune's repacking and its copy proofs
// all use it. It reads the entries (which must all name packID; order does
// not matter) with as few ranged requests as PackGap allows, authenticates,
// decompresses and checks each blob against its ID and type, and calls fn
// once per entry, in offset order, from the calling goroutine.
//
// The returned error is ctx's, fn's, or with WholePack a pack-level one
// (the pack's hash, or a failure to read it at all, after fn was called for
// every entry with that failure).
func (r *Repository) LoadPackBlobs(ctx context.Context, packID crypto.ID, entries []index.Entry, opts PackReadOptions, fn BlobFunc) error {
	for _, e := range entries {
		if e.Pack != packID {
			return fmt.Errorf("LoadPackBlobs: entry %s names pack %s, not %s", e.ID.Short(), e.Pack.Short(), packID.Short())
		}
	}
	fn = r.packFromVersions(ctx, packID, fn)
	es := slices.Clone(entries)
	slices.SortFunc(es, func(a, b index.Entry) int { return cmp.Compare(a.Offset, b.Offset) })
	if opts.WholePack {
		return r.readWholePack(ctx, packID, es, opts, fn)
	}
	gap := int64(PackGap)
	switch {
	case opts.MaxGap > 0:
		gap = opts.MaxGap
	case opts.MaxGap < 0:
		gap = 0
	}
	pooled := r.getBuf()
	defer r.putBuf(pooled)
	buf := *pooled
	defer func() { *pooled = buf }()
	for start := 0; start < len(es); {
		end := start + 1
		for end < len(es) && int64(es[end].Offset)-entryEnd(es[end-1]) <= gap {
			end++
		}
		var err error
		buf, err = r.readPackRun(ctx, packID, es[start:end], buf, fn)
		if err != nil {
			return err
		}
		start = end
	}
	return ctx.Err()
}

// streamBuffer is the read buffer of a pack run.
const streamBuffer = 256 << 10

func entryEnd(e index.Entry) int64 { return int64(e.Offset) + int64(e.Length) }

// readPackRun reads es (sorted, overlapping allowed) with one ranged Get.
func (r *Repository) readPackRun(ctx context.Context, packID crypto.ID, es []index.Entry, buf []byte, fn BlobFunc) ([]byte, error) {
	name := PackName(packID)
	first := int64(es[0].Offset)
	last := first
	for _, e := range es {
		last = max(last, entryEnd(e))
	}
	rc, err := r.store.Get(ctx, name, first, last-first)
	if err != nil {
		if ctx.Err() != nil {
			return buf, ctx.Err()
		}
		return buf, failEntries(es, fmt.Errorf("read %s: %w", name, err), fn)
	}
	defer rc.Close()
	// Blobs are read one by one, most of them small: a buffer turns one
	// read(2) per blob into one per streamBuffer bytes (a larger blob is
	// read straight into its own buffer).
	s := &packStream{rc: bufio.NewReaderSize(rc, int(min(last-first, streamBuffer))), pos: first}
	for i, e := range es {
		sealed, err := s.read(e, &buf)
		if err != nil {
			if ctx.Err() != nil {
				return buf, ctx.Err()
			}
			err = r.classifyShort(ctx, name, e, err)
			return buf, failEntries(es[i:], fmt.Errorf("read %s: %w", name, err), fn)
		}
		if err := r.deliver(name, e, sealed, alone(es, i), fn); err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// readWholePack streams the whole pack through SHA-256 (and opts.Copy).
func (r *Repository) readWholePack(ctx context.Context, packID crypto.ID, es []index.Entry, opts PackReadOptions, fn BlobFunc) error {
	name := PackName(packID)
	length := int64(-1)
	if opts.MaxSize > 0 {
		if len(es) > 0 && entryEnd(es[len(es)-1]) > opts.MaxSize {
			return fmt.Errorf("%s: an entry ends beyond %d bytes: %w", name, opts.MaxSize, ErrPackTooLarge)
		}
		length = opts.MaxSize + 1 // one more byte tells a longer pack
	}
	rc, err := r.store.Get(ctx, name, 0, length)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = fmt.Errorf("read %s: %w", name, err)
		if ferr := failEntries(es, err, fn); ferr != nil {
			return ferr
		}
		return err
	}
	defer rc.Close()
	h := sha256.New()
	var sink io.Writer = h
	if opts.Copy != nil {
		sink = io.MultiWriter(h, opts.Copy)
	}
	counted := &byteCounter{r: rc}
	s := &packStream{rc: io.TeeReader(counted, sink), pos: 0}
	pooled := r.getBuf()
	defer r.putBuf(pooled)
	buf := *pooled
	defer func() { *pooled = buf }()
	for i, e := range es {
		sealed, err := s.read(e, &buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			err = fmt.Errorf("read %s: %w", name, r.classifyShort(ctx, name, e, err))
			if ferr := failEntries(es[i:], err, fn); ferr != nil {
				return ferr
			}
			return err
		}
		if err := r.deliver(name, e, sealed, alone(es, i), fn); err != nil {
			return err
		}
	}
	if _, err := io.Copy(io.Discard, s.rc); err != nil { // the tee hashes it
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	if opts.MaxSize > 0 && counted.n > opts.MaxSize {
		return fmt.Errorf("%s: more than %d bytes: %w", name, opts.MaxSize, ErrPackTooLarge)
	}
	var got crypto.ID
	copy(got[:], h.Sum(nil))
	if got != packID {
		return fmt.Errorf("%s: content does not match its name (its SHA-256 is %s): %w", name, got.Short(), ErrCorrupt)
	}
	return nil
}

// byteCounter counts the bytes read through it.
type byteCounter struct {
	r io.Reader
	n int64
}

func (c *byteCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// deliver opens one sealed blob and hands it to fn. The plaintext is
// borrowed (BlobFunc's contract: valid only during the call): it lies in
// pooled buffers, so that a restore of gigabytes allocates, clears and
// collects none per blob, and a stored (uncompressed) payload is handed
// over where it was decrypted rather than copied.
//
// With inPlace the blob is decrypted where it lies in sealed (the read
// buffer), which saves a pass over its bytes and a buffer per reading
// goroutine; the caller must not need those bytes again (alone).
func (r *Repository) deliver(name string, e index.Entry, sealed []byte, inPlace bool, fn BlobFunc) error {
	var scratch *[]byte
	if !inPlace {
		scratch = r.getBuf()
		defer r.putBuf(scratch)
	}
	out := r.getBuf()
	defer r.putBuf(out)
	hasher := r.hashers.Get().(*crypto.IDHasher)
	plain, err := pack.OpenBlobBorrowed(r.keys, hasher, r.dec, e.Type, e.ID, sealed, MaxBlobSize, scratch, out)
	r.hashers.Put(hasher)
	if err != nil {
		return fn(e, nil, fmt.Errorf("%s: %s blob %s at offset %d: %w: %w", name, e.Type, e.ID.Short(), e.Offset, err, ErrCorrupt))
	}
	return fn(e, plain, nil)
}

// alone reports whether es[i], of entries sorted by offset, shares no
// byte with a later one: its sealed bytes are then not read again (see
// packStream.read, which serves an entry inside the previous one from its
// bytes), so it may be decrypted in place.
func alone(es []index.Entry, i int) bool {
	return i+1 == len(es) || int64(es[i+1].Offset) >= entryEnd(es[i])
}

// getBuf and putBuf lend the buffers OpenBlob and deliver decrypt and
// decompress into, and the pack reads read into (three per reading
// goroutine).
func (r *Repository) getBuf() *[]byte {
	select {
	case b := <-r.bufs:
		return b
	default:
		return new([]byte)
	}
}

// keptBuf is the largest buffer putBuf keeps: room for the largest chunk
// (8 MiB) sealed; the rare larger tree blob gets a buffer of its own.
const keptBuf = 9 << 20

func (r *Repository) putBuf(b *[]byte) {
	if cap(*b) > keptBuf {
		return
	}
	select {
	case r.bufs <- b:
	default:
	}
}

// failEntries reports err for every entry.
func failEntries(es []index.Entry, err error, fn BlobFunc) error {
	for _, e := range es {
		if ferr := fn(e, nil, fmt.Errorf("%s blob %s: %w", e.Type, e.ID.Short(), err)); ferr != nil {
			return ferr
		}
	}
	return nil
}

// packStream reads blobs in offset order from one response body. Entries
// may overlap (only a hostile index makes them): an entry that starts
// before the stream's position is served from the previous buffer when it
// lies inside it, else it is a damaged entry.
type packStream struct {
	rc  io.Reader
	pos int64
	// prev is the last blob read and prevOff its offset.
	prev    []byte
	prevOff int64
}

// errShortRead means a response ended before an entry did: either the
// pack is shorter than the entry claims (damage) or the connection was cut
// (not damage). classifyShort tells which.
var errShortRead = errors.New("the response ended before the blob did")

// classifyShort turns a short read into content damage (ErrCorrupt) when
// the stored object really is shorter than e needs, and leaves it a storage
// failure otherwise: a cut connection must never be reported as damage.
func (r *Repository) classifyShort(ctx context.Context, name string, e index.Entry, err error) error {
	if !errors.Is(err, errShortRead) {
		return err
	}
	info, serr := r.store.Stat(ctx, name)
	if serr != nil {
		return fmt.Errorf("%w (and stat failed: %w)", err, serr)
	}
	if info.Size < entryEnd(e) {
		return fmt.Errorf("%s blob %s: the pack has %d bytes, the blob would end at %d (truncated pack, or a false index entry): %w",
			e.Type, e.ID.Short(), info.Size, entryEnd(e), ErrCorrupt)
	}
	return err
}

func (s *packStream) read(e index.Entry, buf *[]byte) ([]byte, error) {
	off, n := int64(e.Offset), int64(e.Length)
	if off < s.pos {
		if off >= s.prevOff && off+n <= s.prevOff+int64(len(s.prev)) {
			return s.prev[off-s.prevOff : off-s.prevOff+n], nil
		}
		return nil, fmt.Errorf("entry at offset %d overlaps the previous blob: %w", off, ErrCorrupt)
	}
	if skip := off - s.pos; skip > 0 {
		if _, err := io.CopyN(io.Discard, s.rc, skip); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("at %d: %w", s.pos, errShortRead)
			}
			return nil, fmt.Errorf("at %d: %w", s.pos, err)
		}
	}
	if int64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	sealed := (*buf)[:n]
	if _, err := io.ReadFull(s.rc, sealed); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("at %d: %w", off, errShortRead)
		}
		return nil, fmt.Errorf("at %d: %w", off, err)
	}
	s.pos = off + n
	s.prev, s.prevOff = sealed, off
	return sealed, nil
}
