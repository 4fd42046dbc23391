package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/repo"
)

// cacheCleanOptions select the repository caches cairn cache clean removes.
type cacheCleanOptions struct {
	maxAge string // caches not used for longer go
	all    bool   // every cache goes
}

func (o *cacheCleanOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.maxAge, "max-age", "30d", "remove the caches of repositories not used for this long (30d, 2w, 36h)")
	cmd.Flags().BoolVar(&o.all, "all", false, "remove every repository's cache")
}

func newCacheCommand(a *app) *cobra.Command {
	var (
		cleanup bool
		o       cacheCleanOptions
	)
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Show or clean the local cache",
		Long: `Show the local cache: for each repository used on this machine, its cached
index and tree packs, their size, and when it was last used. With --cleanup
(or cairn cache clean), remove the caches of repositories not used for
--max-age (default 30 days), or with --all every cache.

The cache only saves time and requests: cairn rebuilds whatever is missing
from the repository, so removing it never loses anything. Tree packs are
cached up to --cache-max-size per repository (default 512MiB), least
recently used out. No repository or passphrase is needed.`,
		Example: `  cairn cache
  cairn cache --cleanup
  cairn cache clean --max-age 7d
  cairn cache clean --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cleanup {
				return a.runCacheClean(o)
			}
			if cmd.Flags().Changed("max-age") || o.all {
				return errors.New("cache: --max-age and --all go with --cleanup; see cairn cache --help")
			}
			return a.runCacheList()
		},
	}
	cmd.Flags().BoolVar(&cleanup, "cleanup", false, "remove old caches (as cairn cache clean)")
	o.addFlags(cmd)

	var co cacheCleanOptions
	clean := &cobra.Command{
		Use:   "clean",
		Short: "Remove the caches of repositories not used for a while",
		Long: `Remove the local caches of repositories not used for --max-age (default 30
days), or with --all every cache. Nothing is lost: a cache is rebuilt from
the repository when it is next used.`,
		Example: `  cairn cache clean
  cairn cache clean --max-age 7d
  cairn cache clean --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.runCacheClean(co) },
	}
	co.addFlags(clean)
	cmd.AddCommand(clean)
	return cmd
}

// cacheBase returns the cache directory, with the config file read.
func (a *app) cacheBase() (string, error) {
	if _, err := a.loadConfig(); err != nil {
		return "", err
	}
	dir, err := a.cacheDir()
	if err != nil {
		return "", err
	}
	if dir == "" {
		return "", errors.New("cache: no cache directory (--no-cache, or no home directory); give --cache-dir")
	}
	return dir, nil
}

// cacheJSON is one --json line of cairn cache.
type cacheJSON struct {
	MessageType string    `json:"message_type"` // "cache" or "removed"
	Repository  string    `json:"repository_id"`
	Dir         string    `json:"dir"`
	LastUsed    time.Time `json:"last_used"`
	IndexFiles  int       `json:"index_files"`
	IndexBytes  int64     `json:"index_bytes"`
	PackFiles   int       `json:"pack_files"`
	PackBytes   int64     `json:"pack_bytes"`
}

func newCacheJSON(kind string, u repo.CacheUsage) cacheJSON {
	return cacheJSON{kind, u.ID, u.Dir, u.LastUsed.UTC(), u.IndexFiles, u.IndexBytes, u.PackFiles, u.PackBytes}
}

func (a *app) runCacheList() error {
	base, err := a.cacheBase()
	if err != nil {
		return err
	}
	caches, err := repo.ListCaches(base)
	if err != nil {
		return err
	}
	if a.v.GetBool("json") {
		for _, u := range caches {
			if err := writeJSON(a.stdout, newCacheJSON("cache", u)); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(a.stdout, "cache directory: %s\n", printable(base))
	if len(caches) == 0 {
		fmt.Fprintln(a.stdout, "no repository caches")
		return nil
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "REPOSITORY\tLAST USED\tINDEX\tTREE PACKS")
	var total int64
	for _, u := range caches {
		total += u.IndexBytes + u.PackBytes
		fmt.Fprintf(tw, "%s\t%s\t%d files, %s\t%d files, %s\n", u.ID[:16], u.LastUsed.Local().Format("2006-01-02 15:04"),
			u.IndexFiles, formatBytes(uint64(u.IndexBytes)), u.PackFiles, formatBytes(uint64(u.PackBytes)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s in %d repository cache(s); cairn cache --cleanup removes those unused for 30 days\n", formatBytes(uint64(total)), len(caches))
	return nil
}

func (a *app) runCacheClean(o cacheCleanOptions) error {
	maxAge, err := parseAge(o.maxAge)
	if err != nil {
		return fmt.Errorf("cache: --max-age %w", err)
	}
	base, err := a.cacheBase()
	if err != nil {
		return err
	}
	caches, err := repo.ListCaches(base)
	if err != nil {
		return err
	}
	var removed int
	var freed int64
	for _, u := range caches {
		if !o.all && time.Since(u.LastUsed) <= maxAge {
			continue
		}
		if err := repo.RemoveCache(base, u.ID); err != nil {
			return fmt.Errorf("cache: %w", err)
		}
		removed++
		freed += u.IndexBytes + u.PackBytes
		switch {
		case a.v.GetBool("json"):
			if err := writeJSON(a.stdout, newCacheJSON("removed", u)); err != nil {
				return err
			}
		case !a.v.GetBool("quiet"):
			fmt.Fprintf(a.stdout, "removed the cache of repository %s (last used %s, %s)\n", u.ID[:16],
				u.LastUsed.Local().Format("2006-01-02"), formatBytes(uint64(u.IndexBytes+u.PackBytes)))
		}
	}
	if !a.v.GetBool("json") && !a.v.GetBool("quiet") {
		fmt.Fprintf(a.stdout, "%d of %d repository cache(s) removed, %s freed\n", removed, len(caches), formatBytes(uint64(freed)))
	}
	return nil
}
