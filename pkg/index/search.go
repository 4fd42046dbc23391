package index

import (
	"bytes"
	"math"
	"slices"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// Search returns the position of the first entry whose ID is >= id (Len()
// if there is none, or if a file view cannot be read). It does not
// allocate.
//
// In-memory views interpolate (see searchMemory); file views find in their
// fence table the one block of fewer than fenceStride entries that can hold
// id and read just that block: one pread(2) per lookup (see searchFile).
// Set lookups go through eachMatch, which first checks the block's
// fingerprints and so reads nothing for most absent IDs.
func (v *View) Search(id crypto.ID) int {
	if t := prefix(id[:]); v.nentries == 0 || t < v.first {
		return 0
	} else if t > v.last {
		return v.nentries
	}
	if v.file == nil {
		return v.searchMemory(&id)
	}
	var buf [fenceStride * recordSize]byte
	pos, _, _ := v.searchFile(&id, buf[:])
	return pos
}

// eachMatch calls fn with the record of every entry with ID id, in order,
// until fn returns false. Records are passed by value so that the read
// buffer can stay on the stack.
func (v *View) eachMatch(id *crypto.ID, fn func(r record) bool) {
	// The range check lets a set skip views that cannot hold id, which
	// matters for indexes split by ID range.
	if t := prefix(id[:]); v.nentries == 0 || t < v.first || t > v.last {
		return
	}
	if v.file == nil {
		for i := v.searchMemory(id); i < v.nentries; i++ {
			r := v.rec(i)
			if !bytes.Equal(r[:crypto.IDSize], id[:]) || !fn(decodeRecord(r)) {
				return
			}
		}
		return
	}
	if lo, hi := v.fenceRange(prefix(id[:])); hi-lo <= fpWindow {
		v.eachMatchFingerprint(id, lo, hi, fn)
		return
	}
	var buf [fenceStride * recordSize]byte
	i, blk, base := v.searchFile(id, buf[:])
	for ; i < v.nentries; i++ {
		if i >= base+len(blk)/recordSize {
			var ok bool
			if blk, ok = v.records(i, min(fenceStride, v.nentries-i), buf[:]); !ok {
				return
			}
			base = i
		}
		r := blk[(i-base)*recordSize : (i-base+1)*recordSize]
		if !bytes.Equal(r[:crypto.IDSize], id[:]) || !fn(decodeRecord(r)) {
			return
		}
	}
}

// fenceStride is the distance between fence entries of a file view: the
// fence table costs 8/64 = 0.125 bytes per entry, and a lookup reads one
// block of at most 64 records (3 KiB).
const fenceStride = 64

// fpWindow is the widest fence range (entries that may hold an ID) that
// eachMatch filters with fingerprints: normally fewer than fenceStride
// entries, or about twice that when a fence shares the ID's 8-byte prefix.
// Wider ranges (many IDs sharing a prefix, never seen with keyed hashes)
// take the bisecting path of searchFile.
const fpWindow = 2 * fenceStride

// fingerprint returns the in-memory fingerprint of a raw record (or ID) of
// a file view: ID bytes 8 and 9. Bytes 0 to 7 are the prefix that the
// fences already narrow down, and IDs are keyed hashes, so these 16 bits
// are uniform and independent of the entry's position: an absent ID
// matches one of a block's 64 fingerprints with probability about 1/1000.
func fingerprint(r []byte) uint16 {
	return uint16(r[8])<<8 | uint16(r[9])
}

// fenceRange returns the entries [lo, hi) of a file view that can hold an
// ID with prefix t, according to the fences: entry (j-1)*stride below t
// bounds the range from below, entry k*stride above t from above.
func (v *View) fenceRange(t uint64) (lo, hi int) {
	f := v.fences
	j := searchFences(f, func(p uint64) bool { return p >= t })
	k := j + searchFences(f[j:], func(p uint64) bool { return p > t })
	lo, hi = 0, v.nentries
	if j > 0 {
		lo = (j-1)*fenceStride + 1 // entry (j-1)*stride < id
	}
	if k < len(f) {
		hi = k * fenceStride // entry k*stride > id
	}
	return lo, hi
}

// eachMatchFingerprint is eachMatch for a file view once the fences have
// narrowed id down to entries [lo, hi), at most fpWindow of them. It
// compares id's fingerprint with theirs in memory and reads nothing unless
// one matches; then it reads, with one pread(2), only the records from the
// first matching fingerprint to the last (usually one record), and checks
// their full IDs. Entries with ID id all lie in [lo, hi) and all carry its
// fingerprint, so none is missed.
func (v *View) eachMatchFingerprint(id *crypto.ID, lo, hi int, fn func(r record) bool) {
	want := fingerprint(id[:])
	fps := v.fps[lo:hi]
	a := slices.Index(fps, want)
	if a < 0 {
		return
	}
	b := a + 1
	for i := a + 1; i < len(fps); i++ {
		if fps[i] == want {
			b = i + 1
		}
	}
	var buf [fpWindow * recordSize]byte
	blk, ok := v.records(lo+a, b-a, buf[:])
	if !ok {
		return
	}
	for off := 0; off < len(blk); off += recordSize {
		r := blk[off : off+recordSize]
		if !bytes.Equal(r[:crypto.IDSize], id[:]) {
			continue
		}
		if !fn(decodeRecord(r)) {
			return
		}
	}
}

// searchFile finds id in a file view. The fences give the ID prefix of
// every fenceStride-th entry; a fence below id's prefix bounds the answer
// from below, one above bounds it from above, so for all but pathological
// IDs (8-byte prefixes shared across a fence) the answer lies in one block,
// which is read into buf with a single pread(2). It returns the position,
// and the block read (records base, base+1, …) so that callers can go on
// reading the matching entries from it.
//
// It reads with pread rather than through a memory mapping so that lookups
// add nothing to RSS; doc.go explains the measurement behind that.
func (v *View) searchFile(id *crypto.ID, buf []byte) (pos int, blk []byte, base int) {
	t := prefix(id[:])
	lo, hi := v.fenceRange(t)
	for hi-lo > fenceStride {
		// Only when many entries share id's first 8 bytes: bisect with
		// single-record reads until one block remains.
		m := int(uint(lo+hi) >> 1)
		r, ok := v.records(m, 1, buf)
		if !ok {
			return v.nentries, nil, v.nentries
		}
		if less, _ := probeRaw(r, id, t); less {
			lo = m + 1
		} else {
			hi = m
		}
	}
	blk, ok := v.records(lo, hi-lo, buf)
	if !ok {
		return v.nentries, nil, v.nentries
	}
	a, b := 0, hi-lo
	for a < b {
		m := int(uint(a+b) >> 1)
		if less, _ := probeRaw(blk[m*recordSize:], id, t); less {
			a = m + 1
		} else {
			b = m
		}
	}
	return lo + a, blk, lo
}

// searchFences returns the first position in f where pred turns true (f is
// sorted, pred monotone), or len(f).
func searchFences(f []uint64, pred func(uint64) bool) int {
	lo, hi := 0, len(f)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if pred(f[m]) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// finishWidth is the bracket size below which searchMemory stops
// interpolating and bisects: 16 records are 768 bytes.
const finishWidth = 16

// searchMemory searches an in-memory body.
//
// Blob IDs are keyed hashes, so they are uniformly distributed and the
// position of an ID is predictable from its value: searchMemory
// interpolates on the first 8 bytes of the ID, then probes a guard point
// about one standard deviation of that estimate further (sqrt of the
// bracket width), so that the bracket shrinks from n to about sqrt(n)
// entries in two probes, and so on: about 8 probes for 1.5 million
// entries where bisection makes 21. Whenever a round fails to halve the
// bracket (IDs that are not uniform, as in a hostile or test index), it
// bisects once, so the worst case stays O(log n) probes.
func (v *View) searchMemory(id *crypto.ID) int {
	t := prefix(id[:])
	lo, hi := 0, v.nentries
	// Invariant: entries before lo are < id, entries from hi on are >= id,
	// and every ID prefix in [lo, hi) lies in [kLo, kHi].
	kLo, kHi := uint64(0), uint64(math.MaxUint64)
	for hi-lo > finishWidth {
		width := hi - lo
		if kHi > kLo {
			frac := float64(t-kLo) / (float64(kHi-kLo) + 1)
			m := lo + int(frac*float64(width))
			m = min(max(m, lo), hi-1)
			guard := int(math.Sqrt(float64(width)))
			if less, p := probeRaw(v.rec(m), id, t); less {
				lo, kLo = m+1, p
				if g := m + guard; g < hi {
					if less, p := probeRaw(v.rec(g), id, t); less {
						lo, kLo = g+1, p
					} else {
						hi, kHi = g, p
					}
				}
			} else {
				hi, kHi = m, p
				if g := m - guard; g >= lo {
					if less, p := probeRaw(v.rec(g), id, t); less {
						lo, kLo = g+1, p
					} else {
						hi, kHi = g, p
					}
				}
			}
		}
		if hi-lo > width/2 {
			m := int(uint(lo+hi) >> 1)
			if less, p := probeRaw(v.rec(m), id, t); less {
				lo, kLo = m+1, p
			} else {
				hi, kHi = m, p
			}
		}
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if less, _ := probeRaw(v.rec(m), id, t); less {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// probeRaw reports whether raw record r's ID is less than id (whose prefix
// is t), and returns r's prefix.
func probeRaw(r []byte, id *crypto.ID, t uint64) (bool, uint64) {
	p := prefix(r)
	if p != t {
		return p < t, p
	}
	return bytes.Compare(r[:crypto.IDSize], id[:]) < 0, p
}

// rec returns raw record i of an in-memory view.
func (v *View) rec(i int) []byte {
	off := v.entOff + i*recordSize
	return v.body[off : off+recordSize : off+recordSize]
}

// binarySearch is plain bisection; tests and benchmarks compare Search
// with it.
func (v *View) binarySearch(id crypto.ID) int {
	t := prefix(id[:])
	lo, hi := 0, v.nentries
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		var less bool
		if v.file == nil {
			less, _ = probeRaw(v.rec(m), &id, t)
		} else {
			e := v.Entry(m)
			less = compareIDs(&e.ID, &id) < 0
		}
		if less {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
