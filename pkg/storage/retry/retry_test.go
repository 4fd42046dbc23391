package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
	"github.com/cairn-backup/cairn/pkg/storage/local"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
	"github.com/cairn-backup/cairn/pkg/storage/storagetest"
)

// scriptedStore is a map-backed store whose operations first fail with the
// errors queued for them, and whose readers break after a scripted number
// of bytes.
type scriptedStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	fail    map[string][]error // op -> errors to return, in order
	calls   map[string]int     // op -> calls so far

	breakAfter []int  // per opened reader: bytes before it breaks; -1 never
	readErr    error  // what a breaking reader returns
	gets       []span // offset and length of every Get
}

type span struct{ offset, length int64 }

func newScripted() *scriptedStore {
	return &scriptedStore{objects: map[string][]byte{}, fail: map[string][]error{}, calls: map[string]int{}}
}

func (f *scriptedStore) next(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if q := f.fail[op]; len(q) > 0 {
		f.fail[op] = q[1:]
		return q[0]
	}
	return nil
}

func (f *scriptedStore) Put(_ context.Context, name string, data []byte) error {
	if err := f.next("put"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[name] = slices.Clone(data)
	return nil
}

func (f *scriptedStore) Get(_ context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := f.next("get"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets = append(f.gets, span{offset, length})
	data, ok := f.objects[name]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", name, storage.ErrNotFound)
	}
	data = data[min(offset, int64(len(data))):]
	if length >= 0 && length < int64(len(data)) {
		data = data[:length]
	}
	limit := -1
	if i := len(f.gets) - 1; i < len(f.breakAfter) {
		limit = f.breakAfter[i]
	}
	return io.NopCloser(&breakingReader{r: bytes.NewReader(data), left: limit, err: f.readErr}), nil
}

func (f *scriptedStore) Stat(_ context.Context, name string) (storage.ObjectInfo, error) {
	if err := f.next("stat"); err != nil {
		return storage.ObjectInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.objects[name]
	if !ok {
		return storage.ObjectInfo{}, fmt.Errorf("stat %s: %w", name, storage.ErrNotFound)
	}
	return storage.ObjectInfo{Name: name, Size: int64(len(data)), ModTime: time.Unix(1, 0)}, nil
}

// List reports the sorted names; an error queued for "list-mid" is
// returned after the first half of them.
func (f *scriptedStore) List(_ context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	if err := f.next("list"); err != nil {
		return err
	}
	f.mu.Lock()
	var names []string
	for n := range f.objects {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	f.mu.Unlock()
	slices.Sort(names)
	for i, n := range names {
		if i == len(names)/2 {
			if err := f.next("list-mid"); err != nil {
				return err
			}
		}
		if err := fn(storage.ObjectInfo{Name: n}); err != nil {
			return err
		}
	}
	return nil
}

func (f *scriptedStore) Delete(_ context.Context, name string) error {
	if err := f.next("delete"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.objects, name)
	return nil
}

// breakingReader yields left bytes of r, then err (left < 0: all of r).
type breakingReader struct {
	r    io.Reader
	left int
	err  error
}

func (b *breakingReader) Read(p []byte) (int, error) {
	if b.left < 0 {
		return b.r.Read(p)
	}
	if b.left == 0 {
		return 0, b.err
	}
	n, err := b.r.Read(p[:min(len(p), b.left)])
	b.left -= n
	return n, err
}

// recorder is a Policy whose waits are recorded instead of taken and
// whose jitter always picks the ceiling.
type recorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recorder) policy(maxAttempts int) Policy {
	return Policy{
		MaxAttempts: maxAttempts,
		Sleep: func(ctx context.Context, d time.Duration) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.waits = append(r.waits, d)
			return ctx.Err()
		},
		Rand: func(n time.Duration) time.Duration { return n },
	}
}

func transient(i int) error {
	return fmt.Errorf("attempt %d: %w: connection reset", i, storage.ErrTransient)
}

func TestBackoffFullJitter(t *testing.T) {
	var ceilings []time.Duration
	p := Policy{Rand: func(n time.Duration) time.Duration {
		ceilings = append(ceilings, n)
		return n / 2
	}}.withDefaults()
	for retry := range 10 {
		if got, want := p.backoff(retry), ceilings[retry]/2; got != want {
			t.Errorf("backoff(%d) = %v, want the jittered %v", retry, got, want)
		}
	}
	want := []time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond,
		10 * time.Second, 10 * time.Second, 10 * time.Second,
	}
	if !slices.Equal(ceilings, want) {
		t.Errorf("backoff ceilings = %v, want %v", ceilings, want)
	}
	if d := (Policy{}).withDefaults().backoff(1000); d < 0 || d >= DefaultMax {
		t.Errorf("backoff(1000) with real jitter = %v, want in [0, %v)", d, DefaultMax)
	}
}

func TestRetriesTransientUntilSuccess(t *testing.T) {
	inner := newScripted()
	inner.fail["put"] = []error{transient(1), transient(2), transient(3)}
	var rec recorder
	var notified []int
	p := rec.policy(0)
	p.Notify = func(op, name string, attempt int, err error, wait time.Duration) {
		if op != "put" || name != "data/x" || !errors.Is(err, storage.ErrTransient) {
			t.Errorf("Notify(%q, %q, %d, %v)", op, name, attempt, err)
		}
		notified = append(notified, attempt)
	}
	s := New(inner, p)
	if err := s.Put(t.Context(), "data/x", []byte("abc")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if inner.calls["put"] != 4 {
		t.Errorf("inner Put called %d times, want 4", inner.calls["put"])
	}
	wantWaits := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	if !slices.Equal(rec.waits, wantWaits) {
		t.Errorf("waits = %v, want %v", rec.waits, wantWaits)
	}
	if !slices.Equal(notified, []int{1, 2, 3}) {
		t.Errorf("Notify attempts = %v, want [1 2 3]", notified)
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"not found", fmt.Errorf("x: %w", storage.ErrNotFound)},
		{"permission", fmt.Errorf("x: %w", storage.ErrPermission)},
		{"invalid name", fmt.Errorf("x: %w", storage.ErrInvalidName)},
		{"no repository", fmt.Errorf("x: %w", storage.ErrNoRepository)},
		{"unclassified", errors.New("something else")},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled)},
		{"not found and transient", fmt.Errorf("%w: %w", storage.ErrTransient, storage.ErrNotFound)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inner := newScripted()
			for _, op := range []string{"put", "get", "stat", "list", "delete"} {
				inner.fail[op] = []error{tc.err}
			}
			var rec recorder
			s := New(inner, rec.policy(0))
			ctx := t.Context()
			_, getErr := s.Get(ctx, "a", 0, -1)
			_, statErr := s.Stat(ctx, "a")
			errs := []error{
				s.Put(ctx, "a", nil), getErr, statErr,
				s.List(ctx, "", func(storage.ObjectInfo) error { return nil }),
				s.Delete(ctx, "a"),
			}
			for i, err := range errs {
				if !errors.Is(err, tc.err) {
					t.Errorf("operation %d returned %v, want %v", i, err, tc.err)
				}
			}
			for op, n := range inner.calls {
				if n != 1 {
					t.Errorf("%s called %d times, want 1", op, n)
				}
			}
			if len(rec.waits) != 0 {
				t.Errorf("waited %v, want no waits", rec.waits)
			}
		})
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	inner := newScripted()
	for i := range 20 {
		inner.fail["stat"] = append(inner.fail["stat"], transient(i+1))
	}
	var rec recorder
	s := New(inner, rec.policy(5))
	_, err := s.Stat(t.Context(), "a")
	if !errors.Is(err, storage.ErrTransient) || !strings.Contains(err.Error(), "giving up after 5 attempts") {
		t.Errorf("Stat: got %v, want the last transient error after 5 attempts", err)
	}
	if inner.calls["stat"] != 5 || len(rec.waits) != 4 {
		t.Errorf("%d calls and %d waits, want 5 and 4", inner.calls["stat"], len(rec.waits))
	}
}

func TestStopsWaitingWhenContextIsDone(t *testing.T) {
	inner := newScripted()
	inner.fail["delete"] = []error{transient(1), transient(2)}
	// The real sleep, with a backoff far longer than the test may take.
	s := New(inner, Policy{Base: time.Hour, Max: time.Hour, RetryFor: 2 * time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	err := s.Delete(ctx, "a")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Delete: got %v, want context.Canceled", err)
	}
	if errors.Is(err, storage.ErrTransient) {
		t.Errorf("Delete: %v still wraps ErrTransient; an outer layer might retry it", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Delete took %v after cancellation", d)
	}
	if inner.calls["delete"] != 1 {
		t.Errorf("inner Delete called %d times, want 1", inner.calls["delete"])
	}
}

func TestCapabilitiesAreKept(t *testing.T) {
	storagetest.CheckCapabilities(t, func(inner storage.Store) storage.Store { return New(inner, Policy{}) })
}

type countingCreator struct {
	*scriptedStore
	creates int
}

func (c *countingCreator) Create(context.Context) error {
	c.creates++
	if c.creates < 3 {
		return transient(c.creates)
	}
	return nil
}

func TestCreateIsRetried(t *testing.T) {
	inner := &countingCreator{scriptedStore: newScripted()}
	var rec recorder
	s := New(inner, rec.policy(0))
	if err := s.Create(t.Context()); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if inner.creates != 3 {
		t.Errorf("inner Create called %d times, want 3", inner.creates)
	}
}

// TestConformance checks that the decorator itself keeps the storage
// contract, over the in-memory store.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Store { return New(mem.New(), Policy{}) })
}

// TestConformanceUnderFaults runs the suite over a store that fails about
// one call in seven with a transient error, half of those after the call
// took effect (a lost response): with retries, the caller sees none of it.
func TestConformanceUnderFaults(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Store {
		f := fault.New(mem.New())
		f.Add(fault.Rule{Probability: 0.07, Err: storage.ErrTransient})
		// A Put whose answer was lost is retried into ErrExists, which
		// the decorator leaves to its callers (TestPutLostResponse), so
		// lost answers are injected into the other operations only.
		for _, op := range []fault.Op{fault.OpGet, fault.OpStat, fault.OpList, fault.OpDelete} {
			f.Add(fault.Rule{Op: op, Probability: 0.07, AfterInner: true, Err: storage.ErrTransient})
		}
		noWait := func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
		return New(f, Policy{Sleep: noWait})
	})
}

// TestKeepsLocalPutConcurrency is the case that went wrong: a retrying
// local store must still ask for one upload at a time.
func TestKeepsLocalPutConcurrency(t *testing.T) {
	l, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := storage.PutLimit(New(l, Policy{})), l.ConcurrentPuts(); got != want {
		t.Errorf("ConcurrentPuts through retry = %d, want the local store's %d", got, want)
	}
}

// TestPutLostResponse: the first attempt stores the object but its answer
// is lost; the retry finds the object there. Put reports ErrExists (the
// caller decides) and says that an earlier attempt may have stored it.
func TestPutLostResponse(t *testing.T) {
	inner := mem.New()
	f := fault.New(inner)
	f.Add(fault.Rule{Op: fault.OpPut, Nth: 1, AfterInner: true, Err: storage.ErrTransient})
	var rec recorder
	s := New(f, rec.policy(0))
	err := s.Put(t.Context(), "data/x", []byte("abc"))
	if !errors.Is(err, storage.ErrExists) || !strings.Contains(err.Error(), "earlier attempt") {
		t.Fatalf("Put after a lost answer: %v, want ErrExists naming the earlier attempt", err)
	}
	if got, err := storage.ReadAll(t.Context(), inner, "data/x"); err != nil || string(got) != "abc" {
		t.Errorf("stored object: %q, %v", got, err)
	}
	// A first attempt that finds the object is a plain ErrExists.
	err = s.Put(t.Context(), "data/x", []byte("abc"))
	if !errors.Is(err, storage.ErrExists) || strings.Contains(err.Error(), "earlier attempt") {
		t.Errorf("Put of an existing object: %v, want a plain ErrExists", err)
	}
}
