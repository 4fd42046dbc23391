package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cairn-backup/cairn/pkg/check"
	"github.com/cairn-backup/cairn/pkg/exclude"
	"github.com/cairn-backup/cairn/pkg/hooks"
	"github.com/cairn-backup/cairn/pkg/monitor"
	"github.com/cairn-backup/cairn/pkg/schedule"
	"github.com/cairn-backup/cairn/pkg/storage/backends"
)

// fileConfig is the YAML config file. Top-level keys are the global flags
// (repo, connections, cache-dir, ...), which the config file sets with the
// lowest precedence; repositories and jobs are used by --repo NAME and
// cairn run. The file is decoded strictly: an unknown key is an error, so
// a typo does not silently drop a setting. See config/example.yaml.
type fileConfig struct {
	Repo            string `yaml:"repo"`
	PasswordFile    string `yaml:"password-file"`
	PasswordCommand string `yaml:"password-command"`
	CacheDir        string `yaml:"cache-dir"`
	NoCache         bool   `yaml:"no-cache"`
	CacheMaxSize    string `yaml:"cache-max-size"`
	Connections     int    `yaml:"connections"`
	LimitUpload     int    `yaml:"limit-upload"`
	LimitDownload   int    `yaml:"limit-download"`
	JSON            bool   `yaml:"json"`
	Quiet           bool   `yaml:"quiet"`
	Verbose         bool   `yaml:"verbose"`
	S3Region        string `yaml:"s3-region"`
	RetryFor        string `yaml:"retry-for"`
	S3Lookup        string `yaml:"s3-lookup"`
	S3CAFile        string `yaml:"s3-ca-file"`
	S3StorageClass  string `yaml:"s3-storage-class"`

	Repositories map[string]*repositoryConfig `yaml:"repositories"`
	Jobs         map[string]*jobConfig        `yaml:"jobs"`
	// Hooks, monitors and groups for every job (see runSettings).
	globalRunSettings `yaml:",inline"`

	path string // where it was read from, for messages
}

// repositoryConfig is one entry of repositories: a location with its
// passphrase source and environment (credentials).
type repositoryConfig struct {
	URL             string `yaml:"url"`
	PasswordCommand string `yaml:"password-command"`
	PasswordFile    string `yaml:"password-file"`
	// Env is set for this repository only (S3 credentials, and the
	// environment of the password command); values may use ${VAR}.
	Env         map[string]string `yaml:"env"`
	Connections int               `yaml:"connections"`
	// PackSize and Compression are used by cairn init.
	PackSize    string `yaml:"pack-size"`
	Compression string `yaml:"compression"`
}

// jobConfig is one entry of jobs, run by cairn run.
type jobConfig struct {
	Repository       string     `yaml:"repository"`
	Paths            []string   `yaml:"paths"`
	Exclude          []string   `yaml:"exclude"`
	ExcludeFile      []string   `yaml:"exclude-file"`
	ExcludeIfPresent []string   `yaml:"exclude-if-present"`
	ExcludeCaches    bool       `yaml:"exclude-caches"`
	ExcludeLarger    string     `yaml:"exclude-larger-than"`
	OneFileSystem    bool       `yaml:"one-file-system"`
	VerifyDedup      bool       `yaml:"verify-dedup"`
	WithATime        bool       `yaml:"with-atime"`
	Tags             []string   `yaml:"tags"`
	Host             string     `yaml:"host"`
	Keep             keepPolicy `yaml:"keep"`
	Prune            bool       `yaml:"prune"`
	MinPackAge       string     `yaml:"min-pack-age"`
	Check            *jobCheck  `yaml:"check"`
	// Hooks, monitor, retry and schedule (see runSettings).
	jobRunSettings `yaml:",inline"`
}

// keepPolicy says which snapshots forget keeps (as restic's forget).
type keepPolicy struct {
	Last    int      `yaml:"last" json:"last,omitempty"`
	Hourly  int      `yaml:"hourly" json:"hourly,omitempty"`
	Daily   int      `yaml:"daily" json:"daily,omitempty"`
	Weekly  int      `yaml:"weekly" json:"weekly,omitempty"`
	Monthly int      `yaml:"monthly" json:"monthly,omitempty"`
	Yearly  int      `yaml:"yearly" json:"yearly,omitempty"`
	Within  string   `yaml:"within" json:"within,omitempty"`
	Tags    []string `yaml:"tags" json:"tags,omitempty"`
}

// empty reports whether the policy keeps nothing in particular, so that no
// forget step runs.
func (k keepPolicy) empty() bool {
	return k.Last == 0 && k.Hourly == 0 && k.Daily == 0 && k.Weekly == 0 &&
		k.Monthly == 0 && k.Yearly == 0 && k.Within == "" && len(k.Tags) == 0
}

type jobCheck struct {
	// ReadDataSubset is "N%" or "n/m": which part of the packs to read
	// (check.ParseSubset); empty checks the structure only.
	ReadDataSubset string `yaml:"read-data-subset"`
}

// parseConfig decodes and validates a config file.
func parseConfig(data []byte, path string) (*fileConfig, error) {
	cfg := &fileConfig{path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(path, data, err)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

// readConfigFile reads and parses the config file at path.
func readConfigFile(path string) (*fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file %s does not exist; check --config or CAIRN_CONFIG", path)
		}
		return nil, fmt.Errorf("config file: %w", err)
	}
	return parseConfig(data, path)
}

func (c *fileConfig) validate() error {
	if c.Connections < 0 {
		return fmt.Errorf("connections %d must not be negative", c.Connections)
	}
	if err := checkLimits(c); err != nil {
		return err
	}
	for _, name := range sortedKeys(c.Repositories) {
		if err := c.Repositories[name].validate(); err != nil {
			return fmt.Errorf("repository %q: %w", name, err)
		}
	}
	for _, name := range sortedKeys(c.Jobs) {
		if err := c.Jobs[name].validate(c); err != nil {
			return fmt.Errorf("job %q: %w", name, err)
		}
	}
	return c.globalRunSettings.validate(c)
}

func (r *repositoryConfig) validate() error {
	if r == nil {
		return errors.New("empty entry: give at least url")
	}
	if r.URL == "" {
		return errors.New("url is missing")
	}
	if _, err := backends.ParseLocation(r.URL); err != nil {
		return err
	}
	if r.PasswordCommand != "" && r.PasswordFile != "" {
		return errors.New("give password-command or password-file, not both")
	}
	if r.Connections < 0 {
		return fmt.Errorf("connections %d must not be negative", r.Connections)
	}
	if _, err := parsePackSize(r.PackSize); err != nil {
		return err
	}
	if _, err := compressionLevel(r.Compression); err != nil {
		return err
	}
	for k := range r.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("env: %q is not a variable name", k)
		}
	}
	return nil
}

func (j *jobConfig) validate(c *fileConfig) error {
	if j == nil {
		return errors.New("empty entry: give at least repository and paths")
	}
	if j.Repository == "" {
		return errors.New("repository is missing")
	}
	if _, ok := c.Repositories[j.Repository]; !ok {
		return atKey("repository", fmt.Errorf("repository %q is not defined under repositories", j.Repository))
	}
	if len(j.Paths) == 0 && j.StdinCommand == "" {
		return errors.New("paths is empty: list what to back up (a bare ~ is YAML for nothing: write \"~\")")
	}
	for _, p := range j.Paths {
		if strings.TrimSpace(p) == "" {
			return atKey("paths", errors.New("paths has an empty entry (a bare ~ is YAML for nothing: write \"~\")"))
		}
	}
	if _, err := exclude.New(exclude.Options{Patterns: j.Exclude}); err != nil {
		return atKey("exclude", err)
	}
	if j.ExcludeLarger != "" {
		if _, err := exclude.ParseSize(j.ExcludeLarger); err != nil {
			return atKey("exclude-larger-than", fmt.Errorf("exclude-larger-than: %w", err))
		}
	}
	if err := j.Keep.validate(); err != nil {
		return atKey("keep", fmt.Errorf("keep: %w", err))
	}
	if j.Check != nil && j.Check.ReadDataSubset != "" {
		if _, err := check.ParseSubset(j.Check.ReadDataSubset); err != nil {
			return atKey("check", fmt.Errorf("check: %w", err))
		}
	}
	return j.jobRunSettings.validate(c, j.Repository)
}

func (k keepPolicy) validate() error {
	for _, v := range []int{k.Last, k.Hourly, k.Daily, k.Weekly, k.Monthly, k.Yearly} {
		if v < 0 {
			return fmt.Errorf("counts must not be negative (got %d)", v)
		}
	}
	if k.Within != "" {
		if _, err := parseAge(k.Within); err != nil {
			return fmt.Errorf("within %w", err)
		}
	}
	return nil
}

// parseAge parses a long duration (keep within, prune grace) in calendar
// units, largest first, as restic writes them: "30d", "2w", "1y6m", "36h";
// y is 365 days, m is 30 days (months, never minutes), w, d and h. Anything
// else is tried as a Go duration ("1h30m", "90s", "1.5h"), so "m" after "h"
// means minutes there.
func parseAge(s string) (time.Duration, error) {
	if d, ok, err := parseCalendarAge(s); ok {
		return d, err
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want a duration like 30d, 2w, 1y6m or 36h (units y, m = 30 days, w, d, h), or a Go duration such as 1h30m", s)
	}
	return d, nil
}

// calendarAge matches "1y6m2w3d4h" with each unit at most once, in this
// order.
var calendarAge = regexp.MustCompile(`^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?$`)

// parseCalendarAge parses s if it is in calendar units; ok is false when
// it is not.
func parseCalendarAge(s string) (d time.Duration, ok bool, err error) {
	m := calendarAge.FindStringSubmatch(s)
	if s == "" || m == nil {
		return 0, false, nil
	}
	const day = 24 * time.Hour
	units := []time.Duration{365 * day, 30 * day, 7 * day, day, time.Hour}
	for i, unit := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i+1])
		if err != nil || n > 100000 {
			return 0, true, fmt.Errorf("%q: %s is too large", s, m[i+1])
		}
		d += time.Duration(n) * unit
	}
	return d, true, nil
}

// expandHome replaces a leading "~" or "~/" with the home directory.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expand %q: %w", p, err)
	}
	return filepath.Join(home, p[1:]), nil
}

// expandEnv expands ${VAR} and $VAR in the values of env from lookup. A
// reference to an unset variable is an error: an empty credential would
// silently turn into an anonymous request.
func expandEnv(env map[string]string, lookup func(string) (string, bool)) (map[string]string, error) {
	out := make(map[string]string, len(env))
	for _, k := range sortedKeys(env) {
		var missing []string
		out[k] = os.Expand(env[k], func(name string) string {
			v, ok := lookup(name)
			if !ok {
				missing = append(missing, name)
			}
			return v
		})
		if len(missing) > 0 {
			return nil, fmt.Errorf("env %s refers to $%s, which is not set; export it or change the config", k, missing[0])
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// globalRunSettings are the top-level settings for running jobs
// unattended: hooks and monitors that apply to every job (the job's own
// come on top), and groups of jobs for cairn run GROUP.
type globalRunSettings struct {
	Hooks   hookSet             `yaml:"hooks,omitempty"`
	Monitor monitor.Config      `yaml:"monitor,omitempty"`
	Groups  map[string][]string `yaml:"groups,omitempty"`
}

// jobRunSettings are a job's settings for running unattended.
type jobRunSettings struct {
	Hooks    hookSet        `yaml:"hooks,omitempty"`
	Monitor  monitor.Config `yaml:"monitor,omitempty"`
	Retry    *retryPolicy   `yaml:"retry,omitempty"`
	Schedule schedule.Spec  `yaml:"schedule,omitempty"`
	// CopyTo names repositories the new snapshot is copied to after the
	// backup (cairn copy); StdinCommand backs up a command's output as
	// StdinFilename (backup --stdin-from-command, run through /bin/sh
	// -c). runSteps and copyToStep carry them out.
	CopyTo        []string `yaml:"copy-to,omitempty"`
	StdinCommand  string   `yaml:"stdin-command,omitempty"`
	StdinFilename string   `yaml:"stdin-filename,omitempty"`
}

// hookSet is a hooks: section.
type hookSet struct {
	Before    hooks.Command `yaml:"before,omitempty"`
	After     hooks.Command `yaml:"after,omitempty"`
	OnFailure hooks.Command `yaml:"on-failure,omitempty"`
	Finally   hooks.Command `yaml:"finally,omitempty"`
}

// retryPolicy is a job's retry: section: Attempts runs in all (1 = no
// retry), the first pause Wait, doubled after each failure.
type retryPolicy struct {
	Attempts int    `yaml:"attempts"`
	Wait     string `yaml:"wait,omitempty"`
}

// defaultRetryWait is the first pause when retry: gives no wait.
const defaultRetryWait = time.Minute

func (p *retryPolicy) wait() time.Duration {
	if p == nil || p.Wait == "" {
		return defaultRetryWait
	}
	d, _ := time.ParseDuration(p.Wait) // validated
	return d
}

func (p *retryPolicy) attempts() int {
	if p == nil || p.Attempts < 1 {
		return 1
	}
	return p.Attempts
}

func (g *globalRunSettings) validate(c *fileConfig) error {
	if err := g.Monitor.Validate(); err != nil {
		return atKey("monitor", fmt.Errorf("monitor: %w", err))
	}
	for _, name := range sortedKeys(g.Groups) {
		if _, clash := c.Jobs[name]; clash {
			return &keyError{[]string{"groups", name}, fmt.Errorf("group %q has the name of a job; rename one of them", name)}
		}
		if len(g.Groups[name]) == 0 {
			return &keyError{[]string{"groups", name}, fmt.Errorf("group %q is empty", name)}
		}
		for _, j := range g.Groups[name] {
			if _, ok := c.Jobs[j]; !ok {
				return &keyError{[]string{"groups", name}, fmt.Errorf("group %q lists job %q, which is not defined under jobs", name, j)}
			}
		}
	}
	return nil
}

func (s *jobRunSettings) validate(c *fileConfig, own string) error {
	if err := s.Monitor.Validate(); err != nil {
		return atKey("monitor", fmt.Errorf("monitor: %w", err))
	}
	if p := s.Retry; p != nil {
		if p.Attempts < 1 || p.Attempts > 100 {
			return atKey("retry", fmt.Errorf("retry: attempts %d must be between 1 and 100", p.Attempts))
		}
		if p.Wait != "" {
			if d, err := time.ParseDuration(p.Wait); err != nil || d < 0 {
				return atKey("retry", fmt.Errorf("retry: wait %q is not a duration such as 30s or 5m", p.Wait))
			}
		}
	}
	if !s.Schedule.IsZero() {
		if err := s.Schedule.Validate(); err != nil {
			return atKey("schedule", fmt.Errorf("schedule: %w", err))
		}
	}
	for _, r := range s.CopyTo {
		if _, ok := c.Repositories[r]; !ok {
			return atKey("copy-to", fmt.Errorf("copy-to: repository %q is not defined under repositories", r))
		}
		if r == own {
			return atKey("copy-to", fmt.Errorf("copy-to: %q is the job's own repository", r))
		}
	}
	if s.StdinFilename != "" && s.StdinCommand == "" {
		return atKey("stdin-filename", errors.New("stdin-filename is set without stdin-command"))
	}
	return nil
}

// keyError is a config mistake at a key below the entry being validated
// (a job's "retry", say), so that config check can point at its line.
type keyError struct {
	path []string // relative to the entry
	err  error
}

func (e *keyError) Error() string { return e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

func atKey(key string, err error) error { return &keyError{[]string{key}, err} }
