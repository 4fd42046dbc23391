package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairn-backup/cairn/pkg/exclude"
	"github.com/cairn-backup/cairn/pkg/storage/backends"
	"github.com/cairn-backup/cairn/pkg/storage/ratelimit"
)

// settings are the resolved global options of one command.
type settings struct {
	// repoURL is the repository location; repoName the config entry it
	// came from, when --repo named one.
	repoURL  string
	repoName string
	// repository is the config entry named by --repo, or nil.
	repository *repositoryConfig
	// extraEnv is the repository's env map, expanded; it overrides the
	// process environment for this repository.
	extraEnv map[string]string
	cacheDir string // "" means no cache
	// cacheMaxSize bounds the cached tree packs of the repository.
	cacheMaxSize int64
	connections  int
	backend      backends.Options
	// upload and download limit the bytes per second of object bodies;
	// nil means no limit. They are the app's, shared by every store the
	// command opens (a copy's source and destination too).
	upload, download *ratelimit.Limiter
}

// rateLimits holds the process's two limiters, made on first use.
type rateLimits struct {
	made             bool
	upload, download *ratelimit.Limiter
}

// limiters returns the --limit-upload and --limit-download limiters, the
// same ones on every call, so that the limit is for the whole process.
func (a *app) limiters() (up, down *ratelimit.Limiter, err error) {
	if a.rates.made {
		return a.rates.upload, a.rates.download, nil
	}
	kib := map[string]int{}
	for _, key := range []string{"limit-upload", "limit-download"} {
		n := a.v.GetInt(key)
		if n < 0 {
			return nil, nil, fmt.Errorf("%s %d: give a rate in KiB/s, or 0 for no limit", key, n)
		}
		kib[key] = n
	}
	a.rates = rateLimits{
		made:     true,
		upload:   ratelimit.NewLimiter(int64(kib["limit-upload"]) << 10),
		download: ratelimit.NewLimiter(int64(kib["limit-download"]) << 10),
	}
	return a.rates.upload, a.rates.download, nil
}

// checkLimits refuses negative limits in the config file.
func checkLimits(c *fileConfig) error {
	if c.LimitUpload < 0 {
		return fmt.Errorf("limit-upload %d must not be negative (KiB/s; 0 or absent means no limit)", c.LimitUpload)
	}
	if c.LimitDownload < 0 {
		return fmt.Errorf("limit-download %d must not be negative (KiB/s; 0 or absent means no limit)", c.LimitDownload)
	}
	return nil
}

// getenv looks a variable up in the repository's env map, then in the
// process environment.
func (s *settings) getenv(name string) string {
	if v, ok := s.extraEnv[name]; ok {
		return v
	}
	return os.Getenv(name)
}

// configPath returns the config file to read and whether the user asked
// for it explicitly (then it must exist).
func (a *app) configPath() (string, bool) {
	if a.flags.Changed("config") {
		p, _ := a.flags.GetString("config")
		return p, true
	}
	if p, ok := os.LookupEnv("CAIRN_CONFIG"); ok && p != "" {
		return p, true
	}
	dir, ok := os.LookupEnv("XDG_CONFIG_HOME")
	if !ok || dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", false
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "cairn", "config.yaml"), false
}

// loadConfig reads the config file once and feeds its top-level keys to
// viper as the config layer. A missing default config file is no error.
func (a *app) loadConfig() (*fileConfig, error) {
	if a.configLoaded {
		return a.config, nil
	}
	path, explicit := a.configPath()
	cfg := &fileConfig{}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			if cfg, err = parseConfig(data, path); err != nil {
				return nil, err
			}
			a.v.SetConfigType("yaml")
			if err := a.v.ReadConfig(bytes.NewReader(data)); err != nil {
				return nil, fmt.Errorf("config file %s: %w", path, err)
			}
		case errors.Is(err, os.ErrNotExist) && !explicit:
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("config file %s does not exist; check --config or CAIRN_CONFIG", path)
		default:
			return nil, fmt.Errorf("config file: %w", err)
		}
	}
	a.config, a.configLoaded = cfg, true
	return cfg, nil
}

// explicit reports whether key was set by a flag or its environment
// variable, the two layers above the config file.
func (a *app) explicit(key string) bool {
	if a.flags.Changed(key) {
		return true
	}
	for _, s := range globalSettings() {
		if s.key == key && s.env != "" {
			v, ok := os.LookupEnv(s.env)
			return ok && v != ""
		}
	}
	return false
}

// resolve works out the global settings, in order of precedence: flags,
// environment, the repository entry --repo names, the config file's top
// level, defaults.
func (a *app) resolve() (*settings, error) {
	return a.resolveFor("")
}

// resolveFor is resolve with the repository given by name (a config entry,
// as for cairn run) instead of --repo, when name is not "".
func (a *app) resolveFor(name string) (*settings, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	s := &settings{repoURL: strings.TrimSpace(a.v.GetString("repo"))}
	if name != "" {
		rc, ok := cfg.Repositories[name]
		if !ok {
			return nil, fmt.Errorf("repository %q is not defined in the config file", name)
		}
		if err := a.useRepository(s, name, rc); err != nil {
			return nil, err
		}
	} else if rc, ok := cfg.Repositories[s.repoURL]; ok && !strings.ContainsAny(s.repoURL, `/\:`) {
		// --repo names a config entry. A directory of the same name can
		// still be given as ./NAME.
		if err := a.useRepository(s, s.repoURL, rc); err != nil {
			return nil, err
		}
	}
	if s.repoURL == "" {
		return nil, errors.New("no repository given; use --repo, CAIRN_REPOSITORY or repo: in the config file")
	}
	s.connections = a.v.GetInt("connections")
	if s.repository != nil && s.repository.Connections > 0 && !a.explicit("connections") {
		s.connections = s.repository.Connections
	}
	if s.connections <= 0 {
		return nil, fmt.Errorf("connections %d: must be at least 1", s.connections)
	}
	if s.upload, s.download, err = a.limiters(); err != nil {
		return nil, err
	}
	if s.cacheDir, err = a.cacheDir(); err != nil {
		return nil, err
	}
	if s.cacheMaxSize, err = a.cacheMaxSize(); err != nil {
		return nil, err
	}
	lookup := a.v.GetString("s3-lookup")
	switch lookup {
	case backends.PathStyleAuto, backends.PathStylePath, backends.PathStyleVirtual:
	default:
		return nil, fmt.Errorf("s3-lookup %q: want auto, path or virtual", lookup)
	}
	s.backend = backends.Options{
		Region:       a.v.GetString("s3-region"),
		PathStyle:    lookup,
		CAFile:       a.v.GetString("s3-ca-file"),
		StorageClass: a.v.GetString("s3-storage-class"),
		Connections:  s.connections,
		RetryFor:     a.v.GetDuration("retry-for"),
		Warn: func(msg string) {
			fmt.Fprintf(a.stderr, "cairn: warning: %s\n", oneLine(msg))
		},
	}
	s.backend.OnRetry = a.onRetry(a.verbosity() > 0)
	if s.backend.RetryFor <= 0 {
		return nil, fmt.Errorf("retry-for %s: must be positive, e.g. 5m", a.v.GetString("retry-for"))
	}
	s.backend.AccessKey = s.getenv("AWS_ACCESS_KEY_ID")
	s.backend.SecretKey = s.getenv("AWS_SECRET_ACCESS_KEY")
	s.backend.SessionToken = s.getenv("AWS_SESSION_TOKEN")
	return s, nil
}

// useRepository makes s use the config entry name: its URL, and its env
// map overlaid on the process environment.
func (a *app) useRepository(s *settings, name string, rc *repositoryConfig) error {
	env, err := expandEnv(rc.Env, os.LookupEnv)
	if err != nil {
		return fmt.Errorf("repository %q in %s: %w", name, a.config.path, err)
	}
	s.repoName, s.repoURL, s.repository, s.extraEnv = name, rc.URL, rc, env
	return nil
}

// cacheDir returns the cache directory, or "" with --no-cache.
func (a *app) cacheDir() (string, error) {
	if a.v.GetBool("no-cache") {
		return "", nil
	}
	if dir := a.v.GetString("cache-dir"); dir != "" {
		return expandHome(dir)
	}
	if dir, ok := os.LookupEnv("XDG_CACHE_HOME"); ok && dir != "" {
		return filepath.Join(dir, "cairn"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		// No home: run without a cache rather than fail.
		return "", nil
	}
	return filepath.Join(home, ".cache", "cairn"), nil
}

// cacheMaxSize returns the --cache-max-size bound in bytes.
func (a *app) cacheMaxSize() (int64, error) {
	raw := a.v.GetString("cache-max-size")
	n, err := exclude.ParseSize(raw) // the same size syntax everywhere
	if err != nil || n < 1<<20 {
		return 0, fmt.Errorf("cache-max-size %q: give a size of at least 1MiB, e.g. 512MiB or 2GiB", raw)
	}
	return n, nil
}

// location describes the repository for messages: its name and URL.
func (s *settings) location() string {
	if s.repoName != "" {
		return fmt.Sprintf("%s (%s)", s.repoName, s.repoURL)
	}
	return s.repoURL
}
