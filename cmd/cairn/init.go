package main

import (
	"fmt"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/exclude"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/state"
)

type initOptions struct {
	packSize    string
	compression string
	// chunkerFrom is --copy-chunker-params-from with its --from-* flags.
	chunkerFrom fromOptions
}

func newInitCommand(a *app) *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new repository",
		Long: `Create a new, empty repository at --repo, protected by the passphrase.
For S3 the bucket is created if it does not exist. Keep the passphrase
safe: without it nobody, including you, can read the backups.

--copy-chunker-params-from REPO makes the new repository chunk files and
name data exactly as REPO does, so that cairn copy from REPO moves blobs
without re-chunking and deduplicates against what is there (restic's
init --from-repo REPO --copy-chunker-params). It takes REPO's chunker
parameters, its chunker key and its content-ID key: the ability to chunk
alike and recognise the same content, nothing that decrypts. The new
repository has its own master secret and encryption key, so a passphrase
of one does not read the other. REPO is opened with --from-password-file, --from-password-command or
CAIRN_FROM_PASSWORD* (see cairn copy --help).

For automated tests only: CAIRN_INSECURE_TEST_KDF=1 makes new keys (init,
key add, key passwd) use a deliberately weak key derivation, so tests run
fast. Keys made that way are easy to brute-force; cairn warns on stderr
whenever it is set. Never use it for real data.`,
		Example: `  cairn -r /mnt/usb/cairn init
  CAIRN_PASSWORD_FILE=~/.cairn-pass cairn -r s3://s3.example.com/backups/laptop init
  cairn -r s3+http://127.0.0.1:9000/backups init --pack-size 32M --compression better
  cairn -r s3://s3.example.com/backups/copy init --copy-chunker-params-from /media/usb/cairn`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runInit(cmd, o)
		},
	}
	cmd.Flags().StringVar(&o.packSize, "pack-size", "", "target pack size, e.g. 16M (default 16M)")
	cmd.Flags().StringVar(&o.compression, "compression", "", "zstd effort: fastest, default, better or best (default: default, the level restic uses too)")
	cmd.Flags().StringVar(&o.chunkerFrom.repo, "copy-chunker-params-from", "",
		"chunk and name data as this repository does, so cairn copy from it moves blobs without re-chunking (shares its chunker and content-ID keys, not its encryption key)")
	o.chunkerFrom.addFromFlags(cmd.Flags())
	return cmd
}

func (a *app) runInit(cmd *cobra.Command, o initOptions) error {
	ctx := cmd.Context()
	s, err := a.resolve()
	if err != nil {
		return err
	}
	if rc := s.repository; rc != nil {
		// The config entry supplies what the flags leave out.
		if !cmd.Flags().Changed("pack-size") {
			o.packSize = rc.PackSize
		}
		if !cmd.Flags().Changed("compression") {
			o.compression = rc.Compression
		}
	}
	packSize, err := parsePackSize(o.packSize)
	if err != nil {
		return err
	}
	level, err := compressionLevel(o.compression)
	if err != nil {
		return err
	}
	// Init learns the region (a new bucket has no recorded one); the
	// first backup then need not ask again.
	s = regionMemory(s, false)
	store, release, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer release()
	pw, err := a.passphrase(ctx, s, true)
	if err != nil {
		return err
	}
	host, username := identity()
	var chunkerFrom *repo.Repository
	if o.chunkerFrom.repo != "" {
		src, _, srcDone, err := a.openFromRepository(ctx, o.chunkerFrom)
		if err != nil {
			return fmt.Errorf("init --copy-chunker-params-from: %w", err)
		}
		defer srcDone()
		chunkerFrom = src
	}
	r, err := repo.Init(ctx, store, pw, repo.InitOptions{
		KDF:              a.kdf(),
		PackSize:         packSize,
		CompressionLevel: level,
		Host:             host,
		Username:         username,
		ChunkerFrom:      chunkerFrom,
	})
	if err != nil {
		return fmt.Errorf("init %s: %w", s.location(), err)
	}
	defer r.Close()
	if base, err := state.DefaultBase(); err == nil {
		a.rememberKey(base, r) // so planted key files never come first
	}
	cfg := r.Config()
	if a.v.GetBool("json") {
		return writeJSON(a.stdout, map[string]any{"message_type": "init", "id": cfg.ID, "repository": s.repoURL})
	}
	if !a.v.GetBool("quiet") {
		fmt.Fprintf(a.stdout, "created cairn repository %s at %s\n", cfg.ID[:8], s.location())
		if chunkerFrom != nil {
			fmt.Fprintf(a.stdout, "It chunks data as repository %s does, with its own encryption key: cairn copy between them moves blobs as they are.\n",
				chunkerFrom.Config().ID[:8])
		}
		fmt.Fprintln(a.stdout, "Keep the passphrase safe: without it the data cannot be recovered.")
	}
	return nil
}

// parsePackSize parses a pack size such as "16M"; "" means the default.
func parsePackSize(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := exclude.ParseSize(s) // the same size syntax everywhere
	if err != nil {
		return 0, fmt.Errorf("pack-size: %w", err)
	}
	if n < 1<<20 || n > 1<<30 {
		return 0, fmt.Errorf("pack-size %s: want between 1M and 1G", s)
	}
	return int(n), nil
}

// compressionLevel maps a compression name to the zstd level stored in the
// repository config; "" and "auto" mean the default (zstd.SpeedDefault).
func compressionLevel(s string) (int, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return 0, nil
	case "fastest":
		return int(zstd.SpeedFastest), nil
	case "default":
		return int(zstd.SpeedDefault), nil
	case "better":
		return int(zstd.SpeedBetterCompression), nil
	case "best":
		return int(zstd.SpeedBestCompression), nil
	}
	return 0, fmt.Errorf("compression %q: want fastest, default, better or best", s)
}
