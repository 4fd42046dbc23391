package fault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/cairn-backup/cairn/pkg/storage"
)

var (
	_ storage.Store       = (*Store)(nil)
	_ storage.Creator     = (*Store)(nil)
	_ storage.Closer      = (*Store)(nil)
	_ storage.TempCleaner = (*Store)(nil)
	_ storage.Wrapper     = (*Store)(nil)
)

// ErrInjected is the error injected by rules that do not name their own.
var ErrInjected = errors.New("injected fault")

// Op names a storage.Store operation.
type Op string

// The operations a Rule can match.
const (
	OpPut    Op = "put"
	OpGet    Op = "get"
	OpStat   Op = "stat"
	OpList   Op = "list"
	OpDelete Op = "delete"
)

// Rule makes matching calls fail. A call matches when its operation is Op
// (or Op is empty) and its object name starts with Prefix; for List the
// listing prefix must start with Prefix.
//
// Which matching calls fail: with Nth > 0, only the Nth matching call
// (counting from 1); otherwise with Probability > 0, each matching call
// with that probability, drawn from the store's seeded generator;
// otherwise every matching call.
type Rule struct {
	Op          Op
	Prefix      string
	Nth         int
	Probability float64
	// AfterInner performs the inner call before failing, modelling an
	// operation that took effect but whose response was lost. A Get
	// failing this way closes the inner reader.
	AfterInner bool
	// Err is the error returned, wrapped with the operation and name. Nil
	// means ErrInjected.
	Err error
}

type ruleState struct {
	Rule
	matched int // matching calls seen so far
}

// Store is a storage.Store that forwards to an inner store and injects the
// configured faults. It is safe for concurrent use, and rules may be added
// while calls are running. It forwards every optional capability of the
// inner store untouched (storage.Forward).
type Store struct {
	storage.Forward
	inner storage.Store

	mu     sync.Mutex
	rng    *rand.Rand
	rules  []*ruleState
	reads  []readFault
	counts map[Op]int
}

// New wraps inner. The wrapper starts with no faults and seed 1.
func New(inner storage.Store) *Store {
	s := &Store{Forward: storage.Forward{Inner: inner}, inner: inner, counts: make(map[Op]int)}
	s.Seed(1)
	return s
}

// Unwrap returns the store New wrapped.
func (s *Store) Unwrap() storage.Store { return s.inner }

// Seed resets the generator used by probabilistic rules.
func (s *Store) Seed(seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rng = rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
}

// Add adds a rule. Rules are checked in the order added; a call fails with
// the first rule that fires, and every matching rule counts the call.
func (s *Store) Add(r Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &ruleState{Rule: r})
}

// FailNth makes the nth call of op (counting from 1, from now on) fail with
// err.
func (s *Store) FailNth(op Op, n int, err error) {
	s.Add(Rule{Op: op, Nth: n, Err: err})
}

// FailPrefix makes every call of op on names starting with prefix fail with
// err.
func (s *Store) FailPrefix(op Op, prefix string, err error) {
	s.Add(Rule{Op: op, Prefix: prefix, Err: err})
}

// Clear removes all rules, short reads and corruptions. Call counts are
// kept.
func (s *Store) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
	s.reads = nil
}

// Calls returns how many times op was called, including calls that failed.
func (s *Store) Calls(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// inject counts a call and returns the error it must fail with, if any, and
// whether to perform the inner call first.
func (s *Store) inject(op Op, name string) (err error, afterInner bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[op]++
	var fired *ruleState
	for _, r := range s.rules {
		if (r.Op != "" && r.Op != op) || !strings.HasPrefix(name, r.Prefix) {
			continue
		}
		r.matched++
		var fire bool
		switch {
		case r.Nth > 0:
			fire = r.matched == r.Nth
		case r.Probability > 0:
			fire = s.rng.Float64() < r.Probability
		default:
			fire = true
		}
		if fire && fired == nil {
			fired = r
		}
	}
	if fired == nil {
		return nil, false
	}
	cause := fired.Err
	if cause == nil {
		cause = ErrInjected
	}
	return fmt.Errorf("fault: %s %s: %w", op, name, cause), fired.AfterInner
}

// Put forwards to the inner store unless a rule fails it.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	ferr, after := s.inject(OpPut, name)
	if ferr != nil && !after {
		return ferr
	}
	if err := s.inner.Put(ctx, name, data); err != nil {
		return err
	}
	return ferr
}

// Get forwards to the inner store unless a rule fails it, and applies the
// short reads and corruptions that match name to the reader.
func (s *Store) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	ferr, after := s.inject(OpGet, name)
	if ferr != nil && !after {
		return nil, ferr
	}
	rc, err := s.inner.Get(ctx, name, offset, length)
	if err != nil {
		return nil, err
	}
	if ferr != nil {
		rc.Close()
		return nil, ferr
	}
	return s.wrapReader(rc, name, offset), nil
}

// Stat forwards to the inner store unless a rule fails it.
func (s *Store) Stat(ctx context.Context, name string) (storage.ObjectInfo, error) {
	ferr, after := s.inject(OpStat, name)
	if ferr != nil && !after {
		return storage.ObjectInfo{}, ferr
	}
	fi, err := s.inner.Stat(ctx, name)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if ferr != nil {
		return storage.ObjectInfo{}, ferr
	}
	return fi, nil
}

// List forwards to the inner store unless a rule fails it.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	ferr, after := s.inject(OpList, prefix)
	if ferr != nil && !after {
		return ferr
	}
	if err := s.inner.List(ctx, prefix, fn); err != nil {
		return err
	}
	return ferr
}

// Delete forwards to the inner store unless a rule fails it.
func (s *Store) Delete(ctx context.Context, name string) error {
	ferr, after := s.inject(OpDelete, name)
	if ferr != nil && !after {
		return ferr
	}
	if err := s.inner.Delete(ctx, name); err != nil {
		return err
	}
	return ferr
}
