package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/diff"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

func newDiffCommand(a *app) *cobra.Command {
	var f snapshotFilter
	cmd := &cobra.Command{
		Use:   "diff SNAPSHOT1 SNAPSHOT2",
		Short: "Show what changed between two snapshots",
		Long: `List every difference between SNAPSHOT1 (old) and SNAPSHOT2 (new), one line
each, in path order:

  + PATH                 added (directories end in /)
  - PATH                 removed
  M PATH (content, …)    modified: content, size, link target or type
  U PATH (mode, mtime)   metadata only: mode, owner, times or xattrs

followed by a line of totals. Unchanged directories are skipped without
being read, so comparing two snapshots of the same machine is quick.
SNAPSHOT is an ID, a unique prefix, or "latest" (narrowed by --host, --tag
and --path).

With --json, print one {"message_type":"change",…} line per difference and
a {"message_type":"summary",…} line with the totals.`,
		Example: `  cairn diff 3f2a91c0 latest
  cairn diff 3f2a91c0 7b01e4d2 --json | jq -r 'select(.kind=="removed") | .path'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDiff(cmd.Context(), args[0], args[1], &f)
		},
	}
	f.addFlags(cmd.Flags())
	return cmd
}

// diffChange is one --json line of diff.
type diffChange struct {
	MessageType string `json:"message_type"` // "change"
	Path        string `json:"path"`
	Kind        string `json:"kind"`   // added, removed, modified or metadata
	Symbol      string `json:"symbol"` // +, -, M or U
	OldType     string `json:"old_type,omitempty"`
	NewType     string `json:"new_type,omitempty"`
	OldSize     uint64 `json:"old_size"`
	NewSize     uint64 `json:"new_size"`
	What        string `json:"what,omitempty"`
}

// diffSummary is the totals line of diff.
type diffSummary struct {
	MessageType  string `json:"message_type"` // "summary"
	Old          string `json:"old_snapshot_id"`
	New          string `json:"new_snapshot_id"`
	Added        int    `json:"added"`
	Removed      int    `json:"removed"`
	Modified     int    `json:"modified"`
	Metadata     int    `json:"metadata"`
	BytesAdded   uint64 `json:"bytes_added"`   // size of the added files
	BytesRemoved uint64 `json:"bytes_removed"` // size of the removed files
}

func (s *diffSummary) count(c diff.Change) {
	switch c.Kind {
	case diff.Added:
		s.Added++
		s.BytesAdded += c.NewSize
	case diff.Removed:
		s.Removed++
		s.BytesRemoved += c.OldSize
	case diff.Modified:
		s.Modified++
	case diff.MetadataOnly:
		s.Metadata++
	}
}

func (a *app) runDiff(ctx context.Context, ref1, ref2 string, f *snapshotFilter) error {
	r, _, done, err := a.openRepository(ctx)
	if err != nil {
		return err
	}
	defer done()
	old, err := findSnapshot(ctx, r, ref1, f)
	if err != nil {
		return err
	}
	cur, err := findSnapshot(ctx, r, ref2, f)
	if err != nil {
		return err
	}
	if err := r.LoadIndex(ctx); err != nil {
		return err
	}
	jsonOut := a.v.GetBool("json")
	sum := diffSummary{MessageType: "summary", Old: old.ID.String(), New: cur.ID.String()}
	err = diff.Diff(ctx, r, old.Snapshot, cur.Snapshot, func(c diff.Change) error {
		sum.count(c)
		if jsonOut {
			return writeJSON(a.stdout, newDiffChange(c))
		}
		_, err := fmt.Fprintln(a.stdout, diffLine(c))
		return err
	})
	if err != nil {
		return fmt.Errorf("diff %s %s: %w", old.ID.Short(), cur.ID.Short(), err)
	}
	if jsonOut {
		return writeJSON(a.stdout, sum)
	}
	if !a.v.GetBool("quiet") {
		sum.print(a.stdout)
	}
	return nil
}

func newDiffChange(c diff.Change) diffChange {
	out := diffChange{MessageType: "change", Path: c.Path, Kind: c.Kind.String(), Symbol: c.Kind.Symbol(),
		OldSize: c.OldSize, NewSize: c.NewSize, What: c.What}
	if c.OldType != 0 {
		out.OldType = c.OldType.String()
	}
	if c.NewType != 0 {
		out.NewType = c.NewType.String()
	}
	return out
}

// diffLine renders a change for people: "+ /a/b (12.0 KiB)",
// "M /a/c (content, 1.0 KiB → 2.0 KiB)", "U /a/d (mode)".
func diffLine(c diff.Change) string {
	p := printable(c.Path)
	switch c.Kind {
	case diff.Added:
		return "+ " + p + entrySuffix(c.NewType, c.NewSize)
	case diff.Removed:
		return "- " + p + entrySuffix(c.OldType, c.OldSize)
	case diff.Modified:
		what := c.What
		if c.OldType == snapshot.NodeFile || c.NewType == snapshot.NodeFile {
			what += fmt.Sprintf(", %s → %s", formatBytes(c.OldSize), formatBytes(c.NewSize))
		}
		return fmt.Sprintf("M %s (%s)", p, what)
	}
	return fmt.Sprintf("%s %s (%s)", c.Kind.Symbol(), p, c.What)
}

// entrySuffix marks a directory with "/" and gives a file's size.
func entrySuffix(t snapshot.NodeType, size uint64) string {
	switch t {
	case snapshot.NodeDir:
		return "/"
	case snapshot.NodeFile:
		return " (" + formatBytes(size) + ")"
	}
	return ""
}

func (s diffSummary) print(w io.Writer) {
	fmt.Fprintf(w, "%d added (%s), %d removed (%s), %d modified, %d metadata only\n",
		s.Added, formatBytes(s.BytesAdded), s.Removed, formatBytes(s.BytesRemoved), s.Modified, s.Metadata)
}
