package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/fusefs"
)

type mountOptions struct {
	allowOther bool
	noPerms    bool
	cacheMiB   int64
}

func newMountCommand(a *app) *cobra.Command {
	var o mountOptions
	cmd := &cobra.Command{
		Use:   "mount MOUNTPOINT",
		Short: "Browse the snapshots as a read-only file system (FUSE)",
		Long: `Mount the repository's snapshots read-only at MOUNTPOINT, an existing empty
directory, and serve them until Ctrl-C (or fusermount -u / umount MOUNTPOINT).
Like restic mount, it shows:

  snapshots/TIME/       every snapshot by its local time, and snapshots/latest
  ids/SHORT-ID/         every snapshot by ID
  hosts/HOST/TIME/      the snapshots of each host, and hosts/HOST/latest
  tags/TAG/TIME/        the snapshots with each tag, and tags/TAG/latest

Inside a snapshot are the paths it backed up, from the root: a backup of
/home/alice is at snapshots/TIME/home/alice. Files show the modes, owners,
times, sizes, link counts and extended attributes the snapshot recorded, and
are read on demand, at any offset. New snapshots appear within seconds
without remounting. Needs FUSE (/dev/fuse; fusermount3 unless run as root).`,
		Example: `  mkdir /tmp/cairn && cairn mount /tmp/cairn
  ls /tmp/cairn/snapshots/latest/home/alice
  cp /tmp/cairn/snapshots/latest/home/alice/report.odt ~/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runMount(cmd.Context(), args[0], o)
		},
	}
	cmd.Flags().BoolVar(&o.allowOther, "allow-other", false, "let other users see the mount (needs user_allow_other in /etc/fuse.conf unless root); the recorded permissions still apply")
	cmd.Flags().BoolVar(&o.noPerms, "no-default-permissions", false, "do not check the recorded owners and modes: whoever sees the mount reads every file")
	cmd.Flags().Int64Var(&o.cacheMiB, "cache-size", fusefs.BlobCacheSize>>20, "MiB of decrypted file data kept in memory")
	return cmd
}

func (a *app) runMount(ctx context.Context, mountpoint string, o mountOptions) error {
	if st, err := os.Stat(mountpoint); err != nil {
		return fmt.Errorf("mount: %w; create the directory first", err)
	} else if !st.IsDir() {
		return fmt.Errorf("mount: %s is not a directory", mountpoint)
	}
	if o.cacheMiB < 1 {
		return fmt.Errorf("mount: --cache-size %d: give at least 1 MiB", o.cacheMiB)
	}
	r, _, done, err := a.openRepository(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := r.LoadIndex(ctx); err != nil {
		return err
	}
	quiet := a.v.GetBool("quiet")
	return fusefs.Mount(ctx, r, mountpoint, fusefs.Options{
		BlobCacheSize:        o.cacheMiB << 20,
		AllowOther:           o.allowOther,
		NoDefaultPermissions: o.noPerms,
		Warn: func(err error) {
			fmt.Fprintf(a.stderr, "cairn: warning: %s\n", oneLine(err.Error()))
		},
		Mounted: func() {
			if !quiet {
				fmt.Fprintf(a.stderr, "cairn: mounted at %s; press Ctrl-C or run umount %s to unmount\n", mountpoint, mountpoint)
			}
		},
	})
}
