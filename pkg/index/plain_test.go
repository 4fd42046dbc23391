package index

import (
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// Plaintext lengths (format 1.1) survive encoding, merging and lookups, and
// a known length wins over an unrecorded one at the same location.
func TestPlainLenRoundTrip(t *testing.T) {
	a := location(crypto.ID{1}, crypto.ID{9}, 0)
	a.PlainLen = 1<<20 + 7
	big := location(crypto.ID{2}, crypto.ID{9}, 4096)
	big.PlainLen = MaxPlainLen + 1 // too long to record: becomes unknown
	v := mustView(t, []Entry{a, big}, nil)
	got := viewEntries(v)
	if got[0].PlainLen != a.PlainLen {
		t.Errorf("plain length %d after encoding, want %d", got[0].PlainLen, a.PlainLen)
	}
	if got[1].PlainLen != 0 {
		t.Errorf("oversized plain length recorded as %d, want 0", got[1].PlainLen)
	}

	// The same location once without and once with a length: Encode keeps
	// the one that knows.
	unknown := a
	unknown.PlainLen = 0
	v2 := mustView(t, []Entry{unknown, a}, nil)
	if v2.Len() != 1 || v2.Entry(0).PlainLen != a.PlainLen {
		t.Fatalf("Encode kept %+v, want the entry with the plain length", viewEntries(v2))
	}

	// Merge and Set lookups prefer the recorded length whatever the order.
	old := mustView(t, []Entry{unknown}, nil)
	for _, order := range [][]*View{{old, v}, {v, old}} {
		mv, err := NewView(Merge(order, nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		e := mv.Entry(0)
		if e.ID != a.ID || e.PlainLen != a.PlainLen {
			t.Errorf("Merge kept %+v, want plain length %d", e, a.PlainLen)
		}
		s := NewSet()
		s.AddViews([]crypto.ID{{0xa}, {0xb}}, order)
		if e, ok := s.Lookup(a.ID); !ok || e.PlainLen != a.PlainLen {
			t.Errorf("Lookup = %+v, %v; want plain length %d", e, ok, a.PlainLen)
		}
		all := s.LookupAll(a.ID)
		if len(all) != 1 || all[0].PlainLen != a.PlainLen {
			t.Errorf("LookupAll = %+v, want one entry with plain length %d", all, a.PlainLen)
		}
	}
}

// An index that claims another's entries with different plaintext lengths
// does not contain them: a forged length cannot hide the real one.
func TestContainsComparesPlainLen(t *testing.T) {
	a := location(crypto.ID{1}, crypto.ID{9}, 0)
	a.PlainLen = 1000
	forged := a
	forged.PlainLen = 999
	ok, err := Contains(mustView(t, []Entry{forged}, nil), []*View{mustView(t, []Entry{a}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if ok[0] {
		t.Error("an index with a different plain length was proven to contain the original")
	}
	ok, _ = Contains(mustView(t, []Entry{a}, nil), []*View{mustView(t, []Entry{a}, nil)})
	if !ok[0] {
		t.Error("an identical index was not proven to contain the original")
	}
}

// A merge of an index without lengths and one with them contains both.
func TestContainsAcceptsAddedPlainLen(t *testing.T) {
	a := location(crypto.ID{1}, crypto.ID{9}, 0)
	unknown := a
	a.PlainLen = 1000
	ok, err := Contains(mustView(t, []Entry{a}, nil), []*View{mustView(t, []Entry{unknown}, nil)})
	if err != nil || !ok[0] {
		t.Errorf("Contains = %v, %v: an added plain length must not break the claim", ok, err)
	}
}
