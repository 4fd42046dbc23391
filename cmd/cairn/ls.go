package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

type lsOptions struct {
	filter    snapshotFilter
	long      bool
	recursive bool
}

func newLsCommand(a *app) *cobra.Command {
	var o lsOptions
	cmd := &cobra.Command{
		Use:   "ls SNAPSHOT[:DIR] [PATH]",
		Short: "List the files in a snapshot",
		Long: `List the paths in a snapshot, below PATH if given (default: everything).
SNAPSHOT is an ID, a unique prefix of one, or "latest" (narrowed by --host,
--tag and --path); SNAPSHOT:DIR roots the snapshot at its directory DIR,
so paths are shown (and PATH is taken) relative to it. With -l, show
mode, owner, size and modification time; with --json, one JSON object per
line.`,
		Example: `  cairn ls latest
  cairn ls latest:/home/alice/Documents
  cairn ls latest /home/alice/Documents -l
  cairn ls 3f2a91c0 /etc --recursive=false`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "/"
			if len(args) == 2 {
				dir = args[1]
			}
			return a.runLs(cmd.Context(), args[0], dir, o)
		},
	}
	o.filter.addFlags(cmd.Flags())
	cmd.Flags().BoolVarP(&o.long, "long", "l", false, "long format: mode, user, group, size, time, path")
	cmd.Flags().BoolVar(&o.recursive, "recursive", true, "list subdirectories too")
	return cmd
}

func (a *app) runLs(ctx context.Context, ref, dir string, o lsOptions) error {
	r, snap, done, err := a.openSnapshotAt(ctx, ref, &o.filter)
	if err != nil {
		return err
	}
	defer done()
	return listTree(ctx, r, snap.Snapshot, dir, o, func(p string, n *snapshot.Node) error {
		return a.printNode(p, n, o.long)
	})
}

// openSnapshotAt is openSnapshot for the commands that take restic's
// SNAPSHOT:DIR form (ls, restore, dump). With ":DIR" the returned snapshot
// is rooted at that directory: its paths, what restore restores and the
// names dump writes are relative to DIR. A DIR that the snapshot does not
// hold, or that is not a directory, is an error naming both.
func (a *app) openSnapshotAt(ctx context.Context, ref string, f *snapshotFilter) (*repo.Repository, snapshot.Entry, func(), error) {
	id, sub, hasSub := strings.Cut(ref, ":")
	r, snap, done, err := a.openSnapshot(ctx, id, f)
	if err != nil || !hasSub {
		return r, snap, done, err
	}
	dir := path.Clean("/" + sub)
	node, err := snapshot.FindPath(ctx, r, snap.Snapshot.Tree, dir)
	switch {
	case errors.Is(err, snapshot.ErrPathNotFound):
		err = fmt.Errorf("snapshot %s holds no %s (in %s): list what it holds with cairn ls %s", snap.ID.Short(), dir, ref, id)
	case err != nil:
		err = fmt.Errorf("snapshot %s: find %s: %w", snap.ID.Short(), dir, err)
	case node.Type != snapshot.NodeDir:
		err = fmt.Errorf("%s in snapshot %s is a %s, not a directory: SNAPSHOT:DIR takes a directory (give a file as the path argument instead)", dir, snap.ID.Short(), node.Type)
	}
	if err != nil {
		done()
		return nil, snapshot.Entry{}, nil, err
	}
	rooted := *snap.Snapshot
	rooted.Tree = node.Subtree
	snap.Snapshot = &rooted
	return r, snap, done, nil
}

// listTree calls fn for every node below dir in the snapshot (or for dir
// itself when it is not a directory).
func listTree(ctx context.Context, r *repo.Repository, s *snapshot.Snapshot, dir string, o lsOptions, fn func(string, *snapshot.Node) error) error {
	dir = path.Clean("/" + dir)
	node, err := snapshot.FindPath(ctx, r, s.Tree, dir)
	if err != nil {
		return err
	}
	if node.Type != snapshot.NodeDir {
		return fn(dir, node)
	}
	prefix := dir
	if prefix == "/" {
		prefix = ""
	}
	// A recursive listing enters every directory: load their trees ahead,
	// Connections at a time, so a remote store's latency is paid in
	// parallel. A flat one enters none.
	var loader snapshot.BlobLoader = r
	if o.recursive {
		p := snapshot.NewPrefetcher(ctx, r, snapshot.PrefetchOptions{Concurrency: r.Connections(), Deep: true})
		defer p.Close()
		loader = p
	}
	return snapshot.Walk(ctx, loader, node.Subtree, func(p []byte, n *snapshot.Node) error {
		if err := fn(prefix+string(p), n); err != nil {
			return err
		}
		if n.Type == snapshot.NodeDir && !o.recursive {
			return snapshot.SkipDir
		}
		return nil
	})
}

// lsJSON is one line of ls --json.
type lsJSON struct {
	Path   string `json:"path"`
	Type   string `json:"type"`
	Mode   string `json:"mode"`
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	User   string `json:"user,omitempty"`
	Group  string `json:"group,omitempty"`
	Size   uint64 `json:"size"`
	MTime  string `json:"mtime"`
	Target string `json:"link_target,omitempty"`
}

func (a *app) printNode(p string, n *snapshot.Node, long bool) error {
	if a.v.GetBool("json") {
		return writeJSON(a.stdout, lsJSON{
			Path: p, Type: n.Type.String(), Mode: n.FileMode().String(), UID: n.UID, GID: n.GID,
			User: n.User, Group: n.Group, Size: n.Size, MTime: time.Unix(0, n.MTime).UTC().Format(time.RFC3339Nano),
			Target: string(n.LinkTarget),
		})
	}
	if !long {
		_, err := fmt.Fprintln(a.stdout, printable(p))
		return err
	}
	user, group := n.User, n.Group
	if user == "" {
		user = strconv.FormatUint(uint64(n.UID), 10)
	}
	if group == "" {
		group = strconv.FormatUint(uint64(n.GID), 10)
	}
	line := fmt.Sprintf("%s %-8s %-8s %12d %s %s", n.FileMode(), user, group, n.Size,
		time.Unix(0, n.MTime).Local().Format("2006-01-02 15:04:05"), printable(p))
	if n.Type == snapshot.NodeSymlink {
		line += " -> " + printable(string(n.LinkTarget))
	}
	_, err := fmt.Fprintln(a.stdout, line)
	return err
}
