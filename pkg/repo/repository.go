package repo

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/klauspost/compress/zstd"
)

// Errors returned by Init, Open and the key operations. A wrong passphrase
// gives an error wrapping crypto.ErrWrongPassphrase.
var (
	// ErrNoRepository means there is no repository at the location: the
	// config object is missing, or the location itself does not exist.
	ErrNoRepository = errors.New("no cairn repository here (run cairn init first)")
	// ErrAlreadyInitialized means Init found an existing config object.
	ErrAlreadyInitialized = errors.New("a cairn repository already exists here")
	// ErrLastKey means RemoveKey was asked to remove the only key file.
	ErrLastKey = errors.New("refusing to remove the last key: the repository would become unreadable")
	// ErrCorrupt means a stored object failed its name check or its
	// authentication. Errors wrapping it start with the object's name, for
	// example "snapshots/ab12…: authentication failed: the object was
	// modified or damaged; run cairn check".
	ErrCorrupt = errors.New("the object was modified or damaged; run cairn check")
)

// Limits on what a reader accepts, so that a hostile or damaged object
// cannot make the client allocate without bound. Writers stay below them.
const (
	// maxEnvelopeSize bounds a decompressed envelope body: an index of 40
	// million blobs.
	maxEnvelopeSize = 2 << 30
	// MaxBlobSize bounds one blob's plaintext. Chunks are at most 8 MiB by
	// default; tree blobs of huge files are the largest blobs in practice.
	MaxBlobSize = 256 << 20
)

// InitOptions configure a new repository. Zero values select the defaults:
// crypto.DefaultKDF, chunker.DefaultParams, 16 MiB packs, compression level
// 2 (zstd.SpeedDefault).
type InitOptions struct {
	KDF              crypto.KDFParams
	Chunker          chunker.Params
	PackSize         int
	CompressionLevel int
	Host, Username   string
	// ChunkerFrom, if not nil, makes the new repository chunk and name
	// blobs exactly as this one does (init --copy-chunker-params-from):
	// it takes its chunker parameters, its chunker key and its content-ID
	// key, recorded in the new config's content_keys (FORMAT.md section
	// 5), so that cairn copy moves blobs without re-chunking. The new
	// repository still has its own master secret and encryption key: a
	// passphrase of one does not read the other. Chunker is then ignored.
	ChunkerFrom *Repository
}

// OpenOptions configure an opened repository.
type OpenOptions struct {
	// CacheDir is the local cache directory; "" means no cache. The index
	// cache of a repository lives in CacheDir/<repository ID>/index, its
	// tree packs in CacheDir/<repository ID>/packs (see doc.go).
	CacheDir string
	// CacheMaxSize bounds the cached tree packs of this repository, in
	// bytes; 0 means DefaultPackCacheSize.
	CacheMaxSize int64
	// Connections bounds concurrent storage requests; default 8.
	Connections int
	// Host and Username are recorded in key files and leases.
	Host, Username string
	// Warn, if not nil, is told about objects that were skipped because
	// they failed their checks (junk, damaged or oversized objects in a
	// listing), naming the object. Commands print it on stderr; it is
	// called from several goroutines, one call at a time.
	Warn func(object string, err error)

	// KeyHint, if not "", is a key file ID or hex prefix of one that Open
	// tries first (--key-hint). A hint that matches no key file is an
	// error.
	KeyHint string
	// PreferKeys are key files Open tries next, when present: the one
	// that opened this repository last time (see pkg/state).
	PreferKeys []crypto.ID
	// KDFLimits caps the key-derivation cost Open runs for a key file;
	// zero fields mean crypto.DefaultKDFLimits. Key files above them are
	// not run (and named if nothing else opens).
	KDFLimits crypto.KDFLimits
	// ListEarly names kinds (KindSnapshot, KindIndex, ...) that Open
	// lists while it derives the key, which takes a few tenths of a
	// second: the first ListObjects of each then costs no round trip.
	// Such a listing is as old as the start of Open: what a command
	// that reads sees anyway, and safe for a write session's first look
	// at the deletion markers, since its lease protocol lists them again
	// once its lease is stored (StartLease).
	ListEarly []string
}

// zstdWindow is the compressor's window size; see newRepository.
const zstdWindow = 1 << 20

// DefaultConnections is the number of concurrent storage requests when
// OpenOptions.Connections is zero.
const DefaultConnections = 8

// Repository is an opened, unlocked repository. Its methods are safe for
// concurrent use.
type Repository struct {
	store storage.Store
	cfg   Config
	keys  *crypto.Keys
	// master is kept to wrap it in new key files (AddKey); it is no more
	// sensitive than the subkeys derived from it.
	master crypto.MasterKey
	opts   OpenOptions

	// enc and dec are shared by all goroutines: EncodeAll and DecodeAll
	// are safe for concurrent use, and one of each keeps their (large)
	// internal state allocated once.
	enc     *zstd.Encoder // nil when the config says no compression
	dec     *zstd.Decoder
	hashers sync.Pool // of *crypto.IDHasher, which is not concurrency-safe
	// bufs holds the buffers pack reads decrypt and decompress into
	// (getBuf). A channel rather than a sync.Pool: a pool is emptied by
	// every collection, and a restore collects often.
	bufs chan *[]byte

	// now is the clock, leaseRefresh the lease rewrite interval
	// (LeaseRefresh) and leaseLifetime the format's LeaseLifetime, fields
	// so that tests can pin or shorten them.
	now           func() time.Time
	leaseRefresh  time.Duration
	leaseLifetime time.Duration

	// early holds the listings of OpenOptions.ListEarly not yet taken;
	// stopEarly cancels those still running (Close).
	earlyMu   sync.Mutex
	early     map[string]*earlyList
	stopEarly context.CancelFunc

	cache *index.Cache // nil without a cache directory
	packs *packCache   // tree packs; nil without a cache directory

	mu      sync.Mutex
	skipped []SkippedObject // objects passed over with a warning, see Skipped
	// forgotten caches the forgotten records read so far (nil for one that
	// failed its checks): they are content-addressed, so never stale, and
	// a command that opens the repository and then lists snapshots reads
	// each once.
	forgotten map[crypto.ID]*Forgotten
	keyID     crypto.ID // the key file that unlocked the repository
	idx       *index.Set
	views     map[crypto.ID]*index.View // index objects in idx, for upkeep
	ix        indexState                // what LoadIndex remembers, see index.go
}

// Init creates a repository in store: a key file for passphrase and the
// config object. It refuses with ErrAlreadyInitialized if a config exists,
// and calls store's Create first when the store implements storage.Creator.
func Init(ctx context.Context, store storage.Store, passphrase []byte, opts InitOptions) (*Repository, error) {
	if c, ok := store.(storage.Creator); ok {
		if err := c.Create(ctx); err != nil {
			return nil, fmt.Errorf("create repository location: %w", err)
		}
	}
	switch _, err := store.Stat(ctx, configName); {
	case err == nil:
		return nil, ErrAlreadyInitialized
	case errors.Is(err, storage.ErrNoRepository):
		return nil, fmt.Errorf("%w: %w", ErrNoRepository, err)
	case !errors.Is(err, storage.ErrNotFound):
		return nil, fmt.Errorf("check for an existing config: %w", err)
	}
	if opts.ChunkerFrom != nil {
		opts.Chunker = opts.ChunkerFrom.cfg.Chunker
	}
	cfg, err := newConfig(opts, utcNow())
	if err != nil {
		return nil, err
	}
	if opts.ChunkerFrom != nil {
		// Its keys as used, which may be content_keys of its own.
		cfg.ContentKeys = newContentKeys(opts.ChunkerFrom.keys)
	}
	mk, err := crypto.NewMasterKey()
	if err != nil {
		return nil, err
	}
	r, err := newRepository(store, cfg, mk, cfg.keys(mk), OpenOptions{Host: opts.Host, Username: opts.Username})
	if err != nil {
		return nil, err
	}
	// The key file goes first: a crash before the config is written leaves
	// a stray key file, which Open skips because it does not open the
	// config; the reverse order would leave a config nobody can unlock.
	keyID, err := r.writeKeyFile(ctx, mk, passphrase, opts.KDF)
	if err != nil {
		return nil, err
	}
	r.keyID = keyID
	if err := r.saveConfig(ctx); err != nil {
		return nil, err
	}
	if err := r.verifyInit(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Open unlocks the repository in store with passphrase: it tries every key
// file until one unwraps a master secret that opens the config. A missing
// config gives ErrNoRepository; a passphrase no key file accepts gives an
// error wrapping crypto.ErrWrongPassphrase.
func Open(ctx context.Context, store storage.Store, passphrase []byte, opts OpenOptions) (*Repository, error) {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel() // the forgotten/ listing, when Open fails first
	ectx, stopEarly := context.WithCancel(ctx)
	early := startEarlyLists(ectx, store, opts.ListEarly)
	opened := false
	defer func() {
		if !opened {
			stopEarly()
		}
	}()
	f := fetchForOpen(fctx, store, opts)
	sealedConfig, err := f.config, f.configErr
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrNoRepository) {
		return nil, fmt.Errorf("%w: %w", ErrNoRepository, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", configName, err)
	}
	u, err := unlock(ctx, store, passphrase, sealedConfig, f, opts)
	if err != nil {
		return nil, err
	}
	r, err := newRepository(store, u.cfg, u.master, u.keys, opts)
	if err != nil {
		return nil, err
	}
	r.keyID = u.keyID
	if opts.CacheDir != "" {
		cache, err := index.OpenCache(cacheDir(opts.CacheDir, u.cfg.ID))
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("open index cache: %w", err)
		}
		r.cache = cache
		// Without it trees are read by range: slower, never wrong.
		packs, err := openPackCache(opts.CacheDir, u.cfg.ID, opts.CacheMaxSize, u.cfg.PackSize)
		if err != nil {
			r.warn(packCacheDir(opts.CacheDir, u.cfg.ID), fmt.Errorf("%w; reading trees without the cache", err))
		}
		r.packs = packs
	}
	if err := r.refuseRevokedKey(ctx, f); err != nil {
		r.Close()
		return nil, err
	}
	r.early, r.stopEarly, opened = early, stopEarly, true
	return r, nil
}

// ErrRevokedKey means the key file that opened the repository was removed
// with key remove and has reappeared: the storage put it back.
var ErrRevokedKey = errors.New("this key file was removed with cairn key remove, and the storage has put it back")

// refuseRevokedKey refuses a key file that a forgotten record names.
func (r *Repository) refuseRevokedKey(ctx context.Context, f *openFetch) error {
	ids, err := f.awaitForgotten(ctx)
	if err != nil {
		return fmt.Errorf("list forgotten records: %w", err)
	}
	fs, err := r.loadForgotten(ctx, ids)
	if err != nil {
		return fmt.Errorf("read forgotten records: %w", err)
	}
	if when, revoked := fs.Keys[r.keyID]; revoked {
		return fmt.Errorf("%s (removed %s): %w; use a passphrase that has a current key, and remove the key file again with the owner's credentials",
			ObjectName(KindKey, r.keyID), when.Format(time.RFC3339), ErrRevokedKey)
	}
	return nil
}

func newRepository(store storage.Store, cfg Config, mk crypto.MasterKey, keys *crypto.Keys, opts OpenOptions) (*Repository, error) {
	if opts.Connections <= 0 {
		opts.Connections = DefaultConnections
	}
	r := &Repository{store: store, cfg: cfg, keys: keys, master: mk, opts: opts, idx: index.NewSet(), views: make(map[crypto.ID]*index.View),
		now: utcNow, leaseRefresh: LeaseRefresh, leaseLifetime: LeaseLifetime}
	r.hashers.New = func() any { return keys.NewIDHasher() }
	r.bufs = make(chan *[]byte, 3*opts.Connections)
	r.dec = newDecoder(runtime.GOMAXPROCS(0))
	if cfg.Compression == compressionZstd {
		// No frame checksum: every payload is already authenticated. A
		// 1 MiB window (the average chunk) rather than the default 8 MiB
		// halves the encoders' memory (each keeps twice its window of
		// history) and compresses chunks and tree blobs as well.
		var err error
		r.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevel(cfg.CompressionLevel)),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithEncoderCRC(false),
			zstd.WithWindowSize(zstdWindow))
		if err != nil {
			return nil, fmt.Errorf("zstd encoder: %w", err)
		}
	}
	return r, nil
}

// Close releases the local cache, the compressor and the decompressor. The
// repository, and the index views Index() holds (which read the cache
// files), must not be used afterwards.
func (r *Repository) Close() error {
	if r.stopEarly != nil {
		r.stopEarly()
	}
	var err error
	if r.cache != nil {
		err = r.cache.Close()
		r.cache = nil
	}
	if r.packs != nil {
		err = errors.Join(err, r.packs.close())
		r.packs = nil
	}
	if r.enc != nil {
		r.enc.Close()
	}
	r.dec.Close()
	return err
}

// Config returns the repository configuration. ContentKeys is a copy:
// changing it changes nothing.
func (r *Repository) Config() Config {
	cfg := r.cfg
	if cfg.ContentKeys != nil {
		ck := *cfg.ContentKeys
		cfg.ContentKeys = &ck
	}
	return cfg
}

// Keys returns the repository's subkeys.
func (r *Repository) Keys() *crypto.Keys { return r.keys }

// Connections is the number of concurrent storage requests to use.
func (r *Repository) Connections() int { return r.opts.Connections }

// IndexReader is the read-only view of the loaded index that Index gives
// other packages: lookups for deduplication, restore and check, and the
// views and names prune merges. Adding entries and condemning packs stay
// inside this package, where Savers and deletion markers do them.
type IndexReader interface {
	Has(id crypto.ID) bool
	Lookup(id crypto.ID) (index.Entry, bool)
	LookupAll(id crypto.ID) []index.Entry
	Each(fn func(index.Entry) error) error
	IsCondemned(pack crypto.ID) bool
	Len() int
	Err() error
	Names() []crypto.ID
	Superseded() []crypto.ID
	Views() []*index.View
	InUse() ([]crypto.ID, []*index.View)
	Unproven() []index.Claim
}

var _ IndexReader = (*index.Set)(nil)

// LoadIndexObject loads the one index object id into Index(), unless it is
// loaded already: for check, which names every damaged index object when
// LoadIndex stops at the first. An error wraps ErrCorrupt when the object
// is damaged, storage.ErrNotFound when it is gone.
func (r *Repository) LoadIndexObject(ctx context.Context, id crypto.ID) error {
	r.mu.Lock()
	_, loaded := r.views[id]
	r.mu.Unlock()
	if loaded {
		return nil
	}
	v, err := r.loadIndexView(ctx, id)
	if err != nil {
		return err
	}
	r.addIndexView(id, v)
	return nil
}

// newDecoder returns a decoder for up to concurrency simultaneous DecodeAll
// calls. Its memory limit bounds what a hostile object can make it
// allocate.
func newDecoder(concurrency int) *zstd.Decoder {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(concurrency), zstd.WithDecoderMaxMemory(maxEnvelopeSize))
	if err != nil {
		panic("zstd decoder with valid options: " + err.Error())
	}
	return dec
}

// utcNow is the clock of a Repository unless a test replaces it.
func utcNow() time.Time { return time.Now().UTC() }

// SkippedObject is an object a listing passed over because it failed its
// checks: its name, and why.
type SkippedObject struct {
	Name string
	Err  error
}

// skip records an object passed over and tells OpenOptions.Warn. Commands
// that must see everything (prune, check) look at Skipped afterwards and
// refuse, or report, rather than act on a partial view.
func (r *Repository) skip(name string, err error) {
	r.mu.Lock()
	r.skipped = append(r.skipped, SkippedObject{Name: name, Err: err})
	warn := r.opts.Warn
	if warn != nil {
		// Under r.mu so that calls are serialised, as documented.
		warn(name, err)
	}
	r.mu.Unlock()
}

// warn tells OpenOptions.Warn about a problem with an object that was
// worked around, without recording it as skipped.
func (r *Repository) warn(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opts.Warn != nil {
		r.opts.Warn(name, err)
	}
}

// Skipped returns the objects this Repository has passed over so far.
func (r *Repository) Skipped() []SkippedObject {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.skipped)
}
