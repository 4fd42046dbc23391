package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"slices"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/state"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/backends"
	"github.com/cairn-backup/cairn/pkg/storage/ratelimit"
	"github.com/cairn-backup/cairn/pkg/storage/s3"
)

// openStore opens the storage location of s, throttled to the process's
// --limit-upload and --limit-download. The returned function releases it.
func openStore(ctx context.Context, s *settings) (storage.Store, func(), error) {
	store, err := backends.Open(ctx, s.repoURL, s.backend)
	if err != nil {
		return nil, nil, err
	}
	store = ratelimit.New(store, s.upload, s.download)
	release := func() {
		if c, ok := store.(storage.Closer); ok {
			_ = c.Close()
		}
	}
	return store, release, nil
}

// openRepository resolves the settings, reads the passphrase and unlocks
// the repository. The returned function closes it.
func (a *app) openRepository(ctx context.Context, listEarly ...string) (*repo.Repository, *settings, func(), error) {
	return a.openNamedRepository(ctx, "", listEarly...)
}

// openNamedRepository is openRepository for the config entry name, or for
// --repo when name is "". listEarly are the kinds that the command lists
// first and that Open may list while it derives the key
// (repo.OpenOptions.ListEarly).
func (a *app) openNamedRepository(ctx context.Context, name string, listEarly ...string) (*repo.Repository, *settings, func(), error) {
	s, err := a.resolveFor(name)
	if err != nil {
		return nil, nil, nil, err
	}
	var tune func(*repo.OpenOptions)
	if len(listEarly) > 0 {
		tune = func(o *repo.OpenOptions) { o.ListEarly = listEarly }
	}
	r, done, err := a.openWith(ctx, s, "repository", func() ([]byte, error) { return a.passphrase(ctx, s, false) }, tune)
	return r, s, done, err
}

// openWith opens the repository s locates with the passphrase pw gives;
// tune, if set, adjusts the open options. what names it in errors
// ("repository", "source repository"). The returned function closes it.
func (a *app) openWith(ctx context.Context, s *settings, what string, pw func() ([]byte, error), tune func(*repo.OpenOptions)) (*repo.Repository, func(), error) {
	// The S3 region this location answered to before saves the probe
	// that learns it (a round trip); a stale one is dropped below.
	s = regionMemory(s, true)
	store, release, err := openStore(ctx, s)
	if err != nil {
		if what != "repository" {
			err = fmt.Errorf("%s %s: %w", what, s.location(), err)
		}
		return nil, nil, err
	}
	pass, err := pw()
	if err != nil {
		release()
		return nil, nil, err
	}
	opts, err := a.openOptions(s)
	if err != nil {
		release()
		return nil, nil, err
	}
	if tune != nil {
		tune(&opts)
	}
	r, err := repo.Open(ctx, store, pass, opts)
	if err != nil && s3.RegionFromError(err) != "" && s.backend.RegionHint != "" {
		// The region remembered for the location is no longer right:
		// forget it and open the way a first contact does.
		release()
		if base, berr := state.DefaultBase(); berr == nil {
			_ = base.Location(s.repoURL).SetRegion("")
		}
		retry := *s
		retry.backend.RegionHint = ""
		if store, release, err = openStore(ctx, &retry); err != nil {
			return nil, nil, err
		}
		r, err = repo.Open(ctx, store, pass, opts)
	}
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("open %s %s: %w", what, s.location(), err)
	}
	if stateBase, err := state.DefaultBase(); err == nil {
		a.rememberKey(stateBase, r)
		_ = stateBase.Location(s.repoURL).SetLastKey(r.KeyID()) // a hint only
	}
	return r, func() { _ = r.Close(); release() }, nil
}

// regionMemory returns s set to record the S3 region its location answers
// to (pkg/state) and, with useHint, to start from the one recorded before,
// which saves the probe that learns it. s itself when a region is given or
// there is no state directory.
func regionMemory(s *settings, useHint bool) *settings {
	base, err := state.DefaultBase()
	if err != nil || s.backend.Region != "" {
		return s
	}
	loc := base.Location(s.repoURL)
	hinted := *s
	if useHint {
		hinted.backend.RegionHint = loc.Region()
	}
	hinted.backend.OnRegion = func(region string) { _ = loc.SetRegion(region) }
	return &hinted
}

// openOptions are the options every command opens a repository with.
func (a *app) openOptions(s *settings) (repo.OpenOptions, error) {
	limits, err := a.kdfLimits()
	if err != nil {
		return repo.OpenOptions{}, err
	}
	// The key files that opened repositories here before are tried first
	// (pkg/state): planted key files then cost nothing.
	// The one that opened this location last comes first: Open reads it
	// at the same time as the config.
	var prefer []crypto.ID
	if base, err := state.DefaultBase(); err == nil {
		if id, ok := base.Location(s.repoURL).LastKey(); ok {
			prefer = append(prefer, id)
		}
		for _, id := range base.LastKeys() {
			if !slices.Contains(prefer, id) {
				prefer = append(prefer, id)
			}
		}
	}
	host, username := identity()
	return repo.OpenOptions{
		CacheDir:     s.cacheDir,
		CacheMaxSize: s.cacheMaxSize,
		Connections:  s.connections,
		Host:         host,
		Username:     username,
		Warn:         a.warnSkipped,
		KeyHint:      a.v.GetString("key-hint"),
		PreferKeys:   prefer,
		KDFLimits:    limits,
	}, nil
}

// kdfLimits are the key-derivation caps from --kdf-max-memory and
// --kdf-max-passes.
func (a *app) kdfLimits() (crypto.KDFLimits, error) {
	limits := crypto.DefaultKDFLimits()
	mib, passes := a.v.GetUint32("kdf-max-memory"), a.v.GetUint32("kdf-max-passes")
	if mib == 0 || mib > 4<<10 {
		return limits, fmt.Errorf("--kdf-max-memory %d: give 1 to 4096 MiB", mib)
	}
	if passes == 0 || passes > 100 {
		return limits, fmt.Errorf("--kdf-max-passes %d: give 1 to 100", passes)
	}
	limits.MemoryKiB, limits.Time = mib<<10, passes
	return limits, nil
}

// rememberKey records which key file opened r, so that it is tried first
// next time. Failing to is worth a warning, not a failed command.
func (a *app) rememberKey(base state.Base, r *repo.Repository) {
	rs, err := base.Repo(r.Config().ID)
	if err == nil {
		err = rs.SetLastKey(r.KeyID())
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "cairn: warning: could not remember the key file that opened this repository: %s\n", oneLine(err.Error()))
	}
}

// warnSkipped prints a warning about an object a listing passed over.
func (a *app) warnSkipped(object string, err error) {
	fmt.Fprintf(a.stderr, "cairn: warning: skipped %s: %s\n", object, oneLine(err.Error()))
}

// withRepository opens the repository, runs fn with it and closes it.
func (a *app) withRepository(ctx context.Context, fn func(*repo.Repository) error) error {
	r, _, done, err := a.openRepository(ctx)
	if err != nil {
		return err
	}
	defer done()
	return fn(r)
}

// openSnapshot opens the repository, resolves ref (an ID, a unique prefix,
// or latest narrowed by f) and loads the index, ready to read the
// snapshot's files. The returned function closes the repository.
func (a *app) openSnapshot(ctx context.Context, ref string, f *snapshotFilter) (*repo.Repository, snapshot.Entry, func(), error) {
	// Read only: the snapshot, then the index (markers, then index objects).
	r, _, done, err := a.openRepository(ctx, repo.KindSnapshot, repo.KindDeletion, repo.KindIndex)
	if err != nil {
		return nil, snapshot.Entry{}, nil, err
	}
	snap, err := findSnapshot(ctx, r, ref, f)
	if err == nil {
		err = r.LoadIndex(ctx)
	}
	if err != nil {
		done()
		return nil, snapshot.Entry{}, nil, err
	}
	return r, snap, done, nil
}

// openSnapshots checks the filter f, opens the repository and lists the
// snapshots that f matches, oldest first. The returned function closes the
// repository.
func (a *app) openSnapshots(ctx context.Context, f *snapshotFilter) (*repo.Repository, []snapshot.Entry, func(), error) {
	filter, err := f.filter()
	if err != nil {
		return nil, nil, nil, err
	}
	r, _, done, err := a.openRepository(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	all, err := snapshot.List(ctx, r)
	if err != nil {
		done()
		return nil, nil, nil, err
	}
	a.watchSnapshots(ctx, r, all)
	var matched []snapshot.Entry
	for _, e := range all {
		if filter.Match(e.Snapshot) {
			matched = append(matched, e)
		}
	}
	return r, matched, done, nil
}

// identity is the host and user name recorded in key files and leases.
func identity() (host, username string) {
	host, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	return host, username
}

// kdf returns the key derivation cost for new key files: the default, or a
// deliberately weak one when CAIRN_INSECURE_TEST_KDF=1. That variable is
// for tests only (it makes key files crackable) and says so on stderr.
func (a *app) kdf() crypto.KDFParams {
	if os.Getenv("CAIRN_INSECURE_TEST_KDF") == "1" {
		fmt.Fprintln(a.stderr, "cairn: warning: CAIRN_INSECURE_TEST_KDF=1: the new key uses a weak, test-only key derivation; never use this for real data")
		return crypto.TestKDF()
	}
	return crypto.DefaultKDF()
}
