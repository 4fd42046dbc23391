package fusefs

import (
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// virtEntry is an entry of the directories above the snapshots: a
// snapshot's root, a "latest" link, or a directory of more entries.
type virtEntry struct {
	name string
	snap *snapshot.Entry
	link string
	list lister
}

// lister returns a virtual directory's entries in a listing.
type lister func(v *view) []virtEntry

// key identifies what an entry shows, so an inode made for it before is
// reused only while the name still means the same thing.
func (e virtEntry) key() string {
	switch {
	case e.snap != nil:
		return "snap:" + e.snap.ID.String()
	case e.list != nil:
		return "dir:" + e.name
	}
	return "link:" + e.link
}

// virtDir is one of the directories above the snapshots. Its entries
// come from the current snapshot listing, which it refreshes (at most
// every Options.Refresh) whenever it is looked up or read.
type virtDir struct {
	fs.Inode
	fsys *FS
	key  string
	list lister

	// The entries of the last listing, by name, so that the lookups
	// of ls -l in a directory of thousands of snapshots cost a map
	// access each.
	mu     sync.Mutex
	seen   *view
	listed []virtEntry
	byName map[string]int
}

var (
	_ fs.NodeLookuper  = (*virtDir)(nil)
	_ fs.NodeReaddirer = (*virtDir)(nil)
	_ fs.NodeGetattrer = (*virtDir)(nil)
)

type virtKeyer interface{ virtKey() string }

func (d *virtDir) virtKey() string { return d.key }

func (fsys *FS) rootDir() *virtDir {
	return &virtDir{fsys: fsys, key: "dir:", list: func(*view) []virtEntry {
		return []virtEntry{
			{name: "hosts", list: hostsList},
			{name: "ids", list: func(v *view) []virtEntry { return snapEntries(v.ids) }},
			{name: "snapshots", list: func(v *view) []virtEntry { return snapEntries(v.all) }},
			{name: "tags", list: tagsList},
		}
	}}
}

func hostsList(v *view) []virtEntry {
	var out []virtEntry
	for _, h := range sortedKeys(v.hosts) {
		out = append(out, virtEntry{name: h, list: func(v *view) []virtEntry { return snapEntries(v.hosts[h]) }})
	}
	return out
}

func tagsList(v *view) []virtEntry {
	var out []virtEntry
	for _, t := range sortedKeys(v.tags) {
		out = append(out, virtEntry{name: t, list: func(v *view) []virtEntry { return snapEntries(v.tags[t]) }})
	}
	return out
}

// snapEntries lists snapshots and a "latest" link to the newest.
func snapEntries(ns []named) []virtEntry {
	out := make([]virtEntry, 0, len(ns)+1)
	for i := range ns {
		out = append(out, virtEntry{name: ns[i].name, snap: &ns[i].e})
	}
	if len(ns) > 0 {
		out = append(out, virtEntry{name: "latest", link: ns[len(ns)-1].name})
	}
	return out
}

// entries returns the directory's entries in the current listing, and
// their index by name.
func (d *virtDir) entries(ctx context.Context) ([]virtEntry, map[string]int) {
	v, err := d.fsys.snaps.view(ctx)
	if err != nil {
		d.fsys.warn(err)
	}
	if v == nil {
		return nil, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen != v {
		d.seen, d.listed = v, d.list(v)
		d.byName = make(map[string]int, len(d.listed))
		for i, e := range d.listed {
			d.byName[e.name] = i
		}
	}
	return d.listed, d.byName
}

func (d *virtDir) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fsys.virtAttr(&out.Attr)
	out.SetTimeout(d.fsys.snaps.every)
	return 0
}

// virtAttr gives the directories above the snapshots: read-only, owned by
// the user who mounted, dated by the newest snapshot.
func (fsys *FS) virtAttr(a *fuse.Attr) {
	a.Mode = syscall.S_IFDIR | 0o555
	a.Nlink = 2
	a.Owner = fuse.Owner{Uid: fsys.uid, Gid: fsys.gid}
	if cur := fsys.snaps.last(); cur != nil && !cur.latest.IsZero() {
		t := cur.latest
		a.SetTimes(&t, &t, &t)
	}
}

func (d *virtDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	es, _ := d.entries(ctx)
	list := make([]fuse.DirEntry, 0, len(es))
	for _, e := range es {
		mode := uint32(syscall.S_IFDIR)
		if e.link != "" {
			mode = syscall.S_IFLNK
		}
		list = append(list, fuse.DirEntry{Name: e.name, Mode: mode})
	}
	return fs.NewListDirStream(list), 0
}

func (d *virtDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	es, byName := d.entries(ctx)
	if i, ok := byName[name]; ok {
		e := es[i]
		// The entry may change with the next listing.
		out.SetEntryTimeout(d.fsys.snaps.every)
		out.SetAttrTimeout(d.fsys.snaps.every)
		if ch := d.GetChild(name); ch != nil {
			if k, ok := ch.Operations().(virtKeyer); ok && k.virtKey() == e.key() {
				d.fsys.fillVirt(ch.Operations(), &out.Attr)
				return ch, 0
			}
		}
		ops := d.fsys.virtNode(e)
		d.fsys.fillVirt(ops, &out.Attr)
		return d.NewInode(ctx, ops, fs.StableAttr{Mode: modeOf(ops)}), 0
	}
	return nil, syscall.ENOENT
}

func modeOf(ops fs.InodeEmbedder) uint32 {
	if _, ok := ops.(*virtLink); ok {
		return syscall.S_IFLNK
	}
	return syscall.S_IFDIR
}

func (fsys *FS) fillVirt(ops fs.InodeEmbedder, a *fuse.Attr) {
	switch o := ops.(type) {
	case *snapRoot:
		fillAttr(o.node, a)
	case *virtLink:
		o.attr(a)
	default:
		fsys.virtAttr(a)
	}
}

func (fsys *FS) virtNode(e virtEntry) fs.InodeEmbedder {
	switch {
	case e.snap != nil:
		return fsys.snapRoot(e.snap)
	case e.list != nil:
		return &virtDir{fsys: fsys, key: e.key(), list: e.list}
	}
	return &virtLink{fsys: fsys, key: e.key(), target: e.link}
}

// snapRoot is a snapshot's root directory: the tree the archiver wrote,
// whose entries mirror absolute paths ("home", "etc", ...).
type snapRoot struct {
	dirNode
	key string
}

func (r *snapRoot) virtKey() string { return r.key }

func (fsys *FS) snapRoot(e *snapshot.Entry) *snapRoot {
	s := e.Snapshot
	t := s.Time.UnixNano()
	n := &snapshot.Node{Type: snapshot.NodeDir, Mode: 0o555, UID: fsys.uid, GID: fsys.gid,
		MTime: t, CTime: t, ATime: t, Links: 2, Subtree: s.Tree}
	return &snapRoot{dirNode: dirNode{entry{fsys: fsys, path: "/", node: n}}, key: "snap:" + e.ID.String()}
}

// virtLink is a "latest" link.
type virtLink struct {
	fs.Inode
	fsys   *FS
	key    string
	target string
}

var (
	_ fs.NodeReadlinker = (*virtLink)(nil)
	_ fs.NodeGetattrer  = (*virtLink)(nil)
)

func (l *virtLink) virtKey() string { return l.key }

func (l *virtLink) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.target), 0
}

func (l *virtLink) attr(a *fuse.Attr) {
	l.fsys.virtAttr(a)
	a.Mode = syscall.S_IFLNK | 0o777
	a.Nlink = 1
	a.Size = uint64(len(l.target))
}

func (l *virtLink) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.attr(&out.Attr)
	out.SetTimeout(l.fsys.snaps.every)
	return 0
}
