package repo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

const (
	// unlockConcurrency bounds the key files tried at once: each Argon2id
	// run takes its configured memory (64 MiB by default) and a core or
	// two. Their memory together is also bounded, by the KDF memory limit.
	unlockConcurrency = 2
	// maxKeyFilesTried bounds the Argon2id runs of one Open, so planted
	// key files cannot make every open slow. The hinted and remembered key
	// files come first, then the cheapest.
	maxKeyFilesTried = 32
	// maxKeyFilesRead bounds the key files read (small objects, read to
	// learn their cost) by one Open.
	maxKeyFilesRead = 1024
	// keyReadConcurrency is how many key files are read at once.
	keyReadConcurrency = 8
)

type unlocked struct {
	keyID  crypto.ID
	master crypto.MasterKey
	keys   *crypto.Keys
	cfg    Config
}

// keyCandidate is a key file read and found intact.
type keyCandidate struct {
	id       crypto.ID
	kf       *crypto.KeyFile
	priority int // 0 hinted, 1 remembered, 2 other
}

// keyOutcome collects what happened to each key file.
type keyOutcome struct {
	mu         sync.Mutex
	found      *unlocked
	refused    int     // intact, tried, wrong passphrase
	damaged    []error // failed their hash, size or decoding, or cannot be used
	unreadable []error // storage did not deliver them
	overLimit  []error // KDF cost above the limits: not run
	untried    int     // beyond maxKeyFilesRead or maxKeyFilesTried
	configErr  error   // a key opened, but the config did not
}

func (o *keyOutcome) add(list *[]error, err error) {
	o.mu.Lock()
	*list = append(*list, err)
	o.mu.Unlock()
}

// unlock finds the key file that passphrase opens. A key file counts only
// when the master secret it unwraps also opens the config, so a stray key
// file (from an interrupted init, or another repository) is skipped rather
// than mistaken for the right one. Key files that are damaged are reported
// as damaged, never as a wrong passphrase; those whose KDF cost is above
// the limits are not run (FORMAT.md section 3).
func unlock(ctx context.Context, store storage.Store, passphrase []byte, sealedConfig []byte, f *openFetch, opts OpenOptions) (*unlocked, error) {
	names, err := f.names, f.listErr
	if err != nil {
		return nil, fmt.Errorf("list keys/: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("the repository has a config but no key files in keys/: it cannot be unlocked")
	}
	prio, err := keyPriorities(names, opts)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(names, func(a, b crypto.ID) int { return cmp.Compare(prio(a), prio(b)) })

	out := &keyOutcome{}
	if len(names) > maxKeyFilesRead {
		out.untried += len(names) - maxKeyFilesRead
		names = names[:maxKeyFilesRead]
	}
	cands, err := readKeyFiles(ctx, store, names, f.keys, prio, out)
	if err != nil {
		return nil, err
	}
	limits := opts.KDFLimits
	cands = slices.DeleteFunc(cands, func(c keyCandidate) bool {
		if err := c.kf.KDF.Within(limits); err != nil {
			out.overLimit = append(out.overLimit, fmt.Errorf("%s: %w", ObjectName(KindKey, c.id), err))
			return true
		}
		return false
	})
	slices.SortFunc(cands, func(a, b keyCandidate) int {
		return cmp.Or(cmp.Compare(a.priority, b.priority), cmp.Compare(a.kf.KDF.Cost(), b.kf.KDF.Cost()),
			strings.Compare(a.id.String(), b.id.String()))
	})
	if len(cands) > maxKeyFilesTried {
		out.untried += len(cands) - maxKeyFilesTried
		cands = cands[:maxKeyFilesTried]
	}
	if err := tryKeyFiles(ctx, cands, passphrase, sealedConfig, limits, out); err != nil {
		return nil, err
	}
	if out.found != nil {
		return out.found, nil
	}
	return nil, out.failure()
}

// keyPriorities returns the order in which key files are considered:
// those matching opts.KeyHint, then opts.PreferKeys, then the rest.
func keyPriorities(names []crypto.ID, opts OpenOptions) (func(crypto.ID) int, error) {
	hint := strings.ToLower(opts.KeyHint)
	if hint != "" && !slices.ContainsFunc(names, func(id crypto.ID) bool { return strings.HasPrefix(id.String(), hint) }) {
		return nil, fmt.Errorf("no key file matches --key-hint %q; run cairn key list to see them", opts.KeyHint)
	}
	return func(id crypto.ID) int {
		switch {
		case hint != "" && strings.HasPrefix(id.String(), hint):
			return 0
		case slices.Contains(opts.PreferKeys, id):
			return 1
		}
		return 2
	}, nil
}

// readKeyFiles reads the key files names, sorting them into candidates
// (intact) and out's damaged and unreadable lists.
func readKeyFiles(ctx context.Context, store storage.Store, names []crypto.ID, have map[crypto.ID]*crypto.KeyFile, prio func(crypto.ID) int, out *keyOutcome) ([]keyCandidate, error) {
	cands := make([]*keyCandidate, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(keyReadConcurrency)
	for i, id := range names {
		g.Go(func() error {
			kf, err := have[id], error(nil)
			if kf == nil {
				kf, err = loadKeyFile(gctx, store, id)
			}
			switch {
			case err == nil:
				cands[i] = &keyCandidate{id: id, kf: kf, priority: prio(id)}
			case gctx.Err() != nil:
				return gctx.Err()
			case IsDamage(err):
				out.add(&out.damaged, err)
			case errors.Is(err, storage.ErrNotFound):
				// Removed since the listing (cairn key remove).
			default:
				out.add(&out.unreadable, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	var intact []keyCandidate
	for _, c := range cands {
		if c != nil {
			intact = append(intact, *c)
		}
	}
	return intact, nil
}

// tryKeyFiles runs the KDF of each candidate in order, at most
// unlockConcurrency at once and within the memory limit together, until
// one opens the config.
func tryKeyFiles(ctx context.Context, cands []keyCandidate, passphrase, sealedConfig []byte, limits crypto.KDFLimits, out *keyOutcome) error {
	memory := int64(limits.MemoryKiB)
	if memory == 0 {
		memory = int64(crypto.DefaultKDFLimits().MemoryKiB)
	}
	mem := semaphore.NewWeighted(memory)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(unlockConcurrency)
	for _, c := range cands {
		weight := min(int64(c.kf.KDF.MemoryKiB), memory)
		if err := mem.Acquire(gctx, weight); err != nil {
			break // found, or cancelled (checked below)
		}
		g.Go(func() error {
			defer mem.Release(weight)
			if gctx.Err() != nil {
				return nil
			}
			name := ObjectName(KindKey, c.id)
			mk, err := c.kf.Unlock(passphrase)
			if errors.Is(err, crypto.ErrWrongPassphrase) {
				out.mu.Lock()
				out.refused++
				out.mu.Unlock()
				return nil
			}
			if err != nil {
				// Intact (its hash matches) but unusable: as good as
				// damaged, and not a passphrase mismatch.
				out.add(&out.damaged, fmt.Errorf("%s: %w: %w", name, err, ErrCorrupt))
				return nil
			}
			// The config is sealed under the encryption key, which always
			// derives from mk; it may then name other content-ID and
			// chunker keys (FORMAT.md section 5).
			cfg, err := openConfig(crypto.DeriveKeys(mk), sealedConfig)
			out.mu.Lock()
			defer out.mu.Unlock()
			if err != nil {
				out.configErr = err
				return nil
			}
			keys := cfg.keys(mk)
			if out.found == nil {
				out.found = &unlocked{keyID: c.id, master: mk, keys: keys, cfg: cfg}
				cancel()
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report through out
	if out.found == nil && ctx.Err() != nil {
		// cancel() is only called on success, so this is the caller's ctx.
		return fmt.Errorf("open repository: %w", context.Cause(ctx))
	}
	return nil
}

// failure explains why no key file opened the repository. It wraps
// crypto.ErrWrongPassphrase only when every intact key file was tried and
// refused the passphrase; damaged ones are named but do not count.
func (o *keyOutcome) failure() error {
	if o.configErr != nil {
		// The passphrase was right for some key file, so the config is
		// what failed (damage, or a newer format).
		return o.configErr
	}
	if len(o.unreadable) > 0 {
		return fmt.Errorf("could not read %d key file(s), so the passphrase could not be checked against them: %w", len(o.unreadable), errors.Join(o.unreadable...))
	}
	var notes []string
	if len(o.overLimit) > 0 {
		notes = append(notes, fmt.Sprintf("%d key file(s) not tried because their key derivation costs more than the limits allow (%v); if one is yours, raise the limits with --kdf-max-memory and --kdf-max-passes", len(o.overLimit), joinMessages(o.overLimit)))
	}
	if o.untried > 0 {
		notes = append(notes, fmt.Sprintf("%d more key file(s) not tried (at most %d are per open); name yours with --key-hint", o.untried, maxKeyFilesTried))
	}
	if len(o.damaged) > 0 {
		notes = append(notes, fmt.Sprintf("%d key file(s) damaged (%v)", len(o.damaged), joinMessages(o.damaged)))
	}
	switch {
	case o.refused > 0 && len(o.overLimit) == 0 && o.untried == 0:
		// Every intact key file refused it: only now is the passphrase
		// known to be wrong.
		err := fmt.Errorf("%w: none of the %d key files tried opens with it", crypto.ErrWrongPassphrase, o.refused)
		if len(notes) > 0 {
			err = fmt.Errorf("%w; also: %s", err, strings.Join(notes, "; "))
		}
		return err
	case o.refused > 0:
		return fmt.Errorf("the passphrase opens none of the %d key files tried, but not every key file was tried: %s", o.refused, strings.Join(notes, "; "))
	case len(o.overLimit) > 0 || o.untried > 0:
		return fmt.Errorf("no key file was tried: %s", strings.Join(notes, "; "))
	}
	// Each error names its key file and wraps ErrCorrupt.
	return fmt.Errorf("every key file is damaged: %w", errors.Join(o.damaged...))
}

func joinMessages(errs []error) string {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, ", ")
}

// loadKeyFile reads and decodes keys/<id>, checking it against its name
// and its size limit. Damage wraps ErrCorrupt; storage errors do not.
func loadKeyFile(ctx context.Context, store storage.Store, id crypto.ID) (*crypto.KeyFile, error) {
	name := ObjectName(KindKey, id)
	data, err := readLimited(ctx, store, name, maxKeyFileSize)
	data, err = readFromVersions(ctx, store, name, id, maxKeyFileSize, data, err, nil)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	return decodeKeyFile(name, id, data)
}

// decodeKeyFile checks data against the key file's name and decodes it.
func decodeKeyFile(name string, id crypto.ID, data []byte) (*crypto.KeyFile, error) {
	if err := checkHash(name, id, data); err != nil {
		return nil, err
	}
	kf, err := crypto.UnmarshalKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, err, ErrCorrupt)
	}
	return kf, nil
}
