package fusefs

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Repo is what the file system reads from a repository; *repo.Repository
// satisfies it. Index must be loaded before mounting.
type Repo interface {
	ListObjects(ctx context.Context, kind string) ([]crypto.ID, error)
	LoadObject(ctx context.Context, kind string, id crypto.ID) ([]byte, error)
	LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error)
	// Damaged and SkipObject let the snapshot listing pass over a junk
	// snapshot object (see snapshot.Skipper).
	Damaged(err error) bool
	SkipObject(kind string, id crypto.ID, err error)
	Index() repo.IndexReader
	// LoadIndex loads index objects not loaded yet; it is called again
	// when new snapshots appear.
	LoadIndex(ctx context.Context) error
}

var _ Repo = (*repo.Repository)(nil)

// DefaultRefresh is how often, at most, the snapshot list is read again
// when the top directories are looked at.
const DefaultRefresh = 5 * time.Second

// Options configure Mount. Zero values take the defaults.
type Options struct {
	BlobCacheSize int64         // bytes of decrypted data blobs (BlobCacheSize)
	TreeCacheSize int64         // bytes of decoded trees (TreeCacheSize)
	Refresh       time.Duration // DefaultRefresh
	// AllowOther lets other users than the one who mounted see the file
	// system (FUSE allow_other; needs user_allow_other in
	// /etc/fuse.conf unless root). Permissions are checked by the
	// kernel against the recorded modes and owners either way.
	AllowOther bool
	// NoDefaultPermissions turns the kernel's permission checks off:
	// whoever can see the mount reads every file, whatever its recorded
	// owner and mode (restic's --no-default-permissions). Whoever has the
	// passphrase could restore them anyway.
	NoDefaultPermissions bool
	// Warn receives errors that a file system operation can only answer
	// with EIO, so the user learns which file and blob failed and why.
	Warn func(error)
	// Mounted, if set, is called once the file system is mounted.
	Mounted func()
}

// FS is one mounted repository.
type FS struct {
	ctx      context.Context
	repo     Repo
	blobs    *blobCache
	trees    *trees
	snaps    *snapshotList
	uid, gid uint32

	warnMu   sync.Mutex
	lastWarn string
	warnFn   func(error)
}

func newFS(ctx context.Context, r Repo, o Options) *FS {
	if o.BlobCacheSize <= 0 {
		o.BlobCacheSize = BlobCacheSize
	}
	if o.TreeCacheSize <= 0 {
		o.TreeCacheSize = TreeCacheSize
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	return &FS{
		ctx:    ctx,
		repo:   r,
		blobs:  newBlobCache(r, o.BlobCacheSize),
		trees:  newTrees(r, o.TreeCacheSize),
		snaps:  newSnapshotList(r, o.Refresh),
		uid:    uint32(os.Getuid()),
		gid:    uint32(os.Getgid()),
		warnFn: o.Warn,
	}
}

// warn reports err once (the kernel retries a failed read several times,
// which would repeat it).
func (fsys *FS) warn(err error) {
	if fsys.warnFn == nil || err == nil {
		return
	}
	fsys.warnMu.Lock()
	msg := err.Error()
	repeat := msg == fsys.lastWarn
	fsys.lastWarn = msg
	fsys.warnMu.Unlock()
	if !repeat {
		fsys.warnFn(err)
	}
}

func (fsys *FS) newFileReader(path string, n *snapshot.Node) *fileReader {
	idx := fsys.repo.Index()
	f := newFileReader(path, n, fsys.blobs, func(id crypto.ID) uint32 {
		e, ok := idx.Lookup(id)
		if !ok || e.Type != pack.DataBlob {
			return 0
		}
		return e.PlainLen
	})
	f.background = fsys.ctx
	return f
}

// Mount mounts the repository's snapshots read-only at mountpoint and
// serves them until ctx is cancelled or the file system is unmounted from
// outside (fusermount -u, umount). On cancellation it unmounts, retrying
// while the mountpoint is busy; it returns nil once unmounted.
func Mount(ctx context.Context, r Repo, mountpoint string, o Options) error {
	fsys := newFS(ctx, r, o)
	if _, err := fsys.snaps.view(ctx); err != nil {
		return err
	}
	root := fsys.rootDir()
	long := time.Hour // trees never change
	mountOpts := []string{"ro"}
	if !o.NoDefaultPermissions {
		// The kernel checks the recorded modes and owners, as for a
		// restored tree.
		mountOpts = append(mountOpts, "default_permissions")
	}
	opts := &fs.Options{
		MountOptions: fuse.MountOptions{
			FsName:               "cairn",
			Name:                 "cairn",
			AllowOther:           o.AllowOther,
			DirectMount:          true, // as root, no fusermount needed
			MaxReadAhead:         1 << 20,
			Options:              mountOpts,
			EnableSymlinkCaching: true,
		},
		EntryTimeout:    &long,
		AttrTimeout:     &long,
		UID:             fsys.uid,
		GID:             fsys.gid,
		NullPermissions: true,
	}
	server, err := fs.Mount(mountpoint, root, opts)
	if err != nil {
		return fmt.Errorf("mount %s: %w (is FUSE available: /dev/fuse and fusermount3 or root?)", mountpoint, err)
	}
	if o.Mounted != nil {
		o.Mounted()
	}
	served := make(chan struct{})
	go func() {
		server.Wait()
		close(served)
	}()
	select {
	case <-served:
		return nil // unmounted from outside
	case <-ctx.Done():
	}
	warned := false
	for {
		err := server.Unmount()
		if err == nil {
			<-served
			return nil
		}
		select {
		case <-served:
			return nil
		default:
		}
		if !warned && o.Warn != nil {
			o.Warn(fmt.Errorf("cannot unmount %s yet, it is probably busy: close the files and shells using it; cairn retries every second (umount -l %s detaches it at once) (%w)", mountpoint, mountpoint, err))
			warned = true
		}
		select {
		case <-served:
			return nil
		case <-time.After(time.Second):
		}
	}
}
