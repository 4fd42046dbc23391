package snapshot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

var errDamage = errors.New("failed its checks")

// skippingObjects is memObjects as a Skipper: objects in damaged fail to
// load with damage, objects in broken with a storage failure.
type skippingObjects struct {
	*memObjects
	damaged, broken map[crypto.ID]bool
	mu              sync.Mutex
	skipped         []crypto.ID
}

func (s *skippingObjects) LoadObject(ctx context.Context, kind string, id crypto.ID) ([]byte, error) {
	switch {
	case s.damaged[id]:
		return nil, fmt.Errorf("snapshots/%s: %w", id, errDamage)
	case s.broken[id]:
		return nil, fmt.Errorf("snapshots/%s: connection reset", id)
	}
	return s.memObjects.LoadObject(ctx, kind, id)
}

func (s *skippingObjects) Damaged(err error) bool { return errors.Is(err, errDamage) }

func (s *skippingObjects) SkipObject(kind string, id crypto.ID, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skipped = append(s.skipped, id)
}

// TestListSkipsDamage: List, latest and FindParent pass over damaged and
// undecodable snapshots, telling the Skipper; storage failures still fail;
// ResolveID names a damaged snapshot without loading it.
func TestListSkipsDamage(t *testing.T) {
	ctx := context.Background()
	m := newMemObjects()
	good := m.put(t, "aa", &Snapshot{Time: time.Unix(100, 0), Host: "h", Paths: []string{"/p"}, Tree: []crypto.ID{{1}}})
	newerDamaged := m.put(t, "bb", &Snapshot{Time: time.Unix(200, 0), Host: "h", Paths: []string{"/p"}, Tree: []crypto.ID{{1}}})
	junk, _ := m.SaveObject(ctx, ObjectKind, []byte("{not json"))
	o := &skippingObjects{memObjects: m, damaged: map[crypto.ID]bool{newerDamaged: true}}

	entries, err := List(ctx, o)
	if err != nil || len(entries) != 1 || entries[0].ID != good {
		t.Fatalf("List = %v, %v", entries, err)
	}
	if len(o.skipped) != 2 {
		t.Errorf("skipped %v; want %s and %s", o.skipped, newerDamaged.Short(), junk.Short())
	}
	if e, err := Find(ctx, o, "latest", Filter{}); err != nil || e.ID != good {
		t.Errorf("latest = %v, %v", e.ID.Short(), err)
	}
	if e, err := FindParent(ctx, o, "h", []string{"/p"}); err != nil || e == nil || e.ID != good {
		t.Errorf("FindParent = %v, %v", e, err)
	}
	_, err = Find(ctx, o, junk.String()[:8], Filter{})
	if err == nil || !IsUnreadable(o, err) {
		t.Errorf("Find(junk) = %v; want unreadable", err)
	}
	if _, err = Find(ctx, o, "bb", Filter{}); !IsUnreadable(o, err) {
		t.Errorf("Find(damaged) = %v; want unreadable", err)
	}
	if id, err := ResolveID(ctx, o, "BB"); err != nil || id != newerDamaged {
		t.Errorf("ResolveID = %v, %v", id, err)
	}

	o.broken = map[crypto.ID]bool{good: true}
	if _, err := List(ctx, o); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("List with a storage failure = %v", err)
	}
	// Without a Skipper, damage is an error as before.
	if _, err := List(ctx, m); err == nil {
		t.Error("List without a Skipper passed over undecodable junk")
	}
}
