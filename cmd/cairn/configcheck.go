package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	shippedconfig "github.com/cairn-backup/cairn/config"

	"github.com/cairn-backup/cairn/pkg/monitor"
	"github.com/cairn-backup/cairn/pkg/schedule"
)

func newConfigCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the config file, or show a job's effective settings",
		Example: `  cairn config check
  cairn config show nightly
  cairn config example > ~/.config/cairn/config.yaml`,
	}
	cmd.AddCommand(newConfigExampleCommand(a), &cobra.Command{
		Use:   "check [FILE]",
		Short: "Check a config file and point at the line of each mistake",
		Long: `Check the config file (FILE, or --config, CAIRN_CONFIG, the default) without
running anything: unknown keys, values of the wrong type, repositories and
jobs that are named but not defined, ${VAR} references to variables that
are not set, and schedules systemd cannot parse (when systemd-analyze is
installed). Each mistake is reported as FILE:LINE: key: what is wrong.
config/cairn.schema.json describes the same file for editors.`,
		Example: `  cairn config check
  cairn config check /etc/cairn/config.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, _ := a.configPath()
			if len(args) == 1 {
				path = args[0]
			}
			return a.configCheck(cmd.Context(), path)
		},
	}, &cobra.Command{
		Use:   "show [JOB]...",
		Short: "Print the effective settings of jobs, secrets masked",
		Long: `Print the settings each job runs with (default: every job): its own keys
with the defaults filled in, its repository, and the global hooks and
monitors that apply to it. Credentials are masked: env values, the
arguments of password commands, the userinfo of URLs, and everything after
the host of monitor URLs (which are their own secrets).`,
		Example: `  cairn config show nightly
  cairn --config /etc/cairn/config.yaml config show`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.configShow(args)
		},
	})
	return cmd
}

// configProblem is one mistake found by config check.
type configProblem struct {
	path []string // YAML keys from the top
	msg  string
}

func (a *app) configCheck(ctx context.Context, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config check: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return yamlError(path, data, err)
	}
	cfg, err := parseConfigOnly(data, path)
	if err != nil {
		return err
	}
	problems := semanticProblems(ctx, cfg)
	if len(problems) == 0 {
		if !a.v.GetBool("quiet") {
			fmt.Fprintf(a.stdout, "%s: ok (%s, %s)\n", path, plural(len(cfg.Repositories), "repository"), plural(len(cfg.Jobs), "job"))
		}
		return nil
	}
	lines := make([]string, len(problems))
	for i, p := range problems {
		lines[i] = fmt.Sprintf("%s:%d: %s: %s", path, nodeLine(&root, p.path), strings.Join(p.path, "."), p.msg)
	}
	return fmt.Errorf("config file %s has %s:\n%s\nfix it (cairn config example prints every setting, commented)",
		path, plural(len(lines), "mistake"), strings.Join(lines, "\n"))
}

// parseConfigOnly decodes strictly, reporting every decoding mistake, but
// does not validate: semanticProblems reports all of those at once.
func parseConfigOnly(data []byte, path string) (*fileConfig, error) {
	cfg := &fileConfig{path: path}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(path, data, err)
	}
	return cfg, nil
}

// semanticProblems lists every mistake validate would stop at, each at
// its key, and every ${VAR} that is not set.
func semanticProblems(ctx context.Context, c *fileConfig) []configProblem {
	var out []configProblem
	add := func(base []string, err error) {
		path := append([]string(nil), base...)
		var ke *keyError
		if errors.As(err, &ke) {
			path = append(path, ke.path...)
		}
		out = append(out, configProblem{path, oneLine(err.Error())})
	}
	if c.Connections < 0 {
		add([]string{"connections"}, fmt.Errorf("%d must not be negative", c.Connections))
	}
	for key, kib := range map[string]int{"limit-upload": c.LimitUpload, "limit-download": c.LimitDownload} {
		if kib < 0 {
			add([]string{key}, fmt.Errorf("%d must not be negative (KiB/s; 0 or absent means no limit)", kib))
		}
	}
	for _, name := range sortedKeys(c.Repositories) {
		r := c.Repositories[name]
		if err := r.validate(); err != nil {
			add([]string{"repositories", name}, err)
			continue
		}
		for _, k := range sortedKeys(r.Env) {
			if _, err := expandEnv(map[string]string{k: r.Env[k]}, os.LookupEnv); err != nil {
				add([]string{"repositories", name, "env", k}, err)
			}
		}
	}
	for _, name := range sortedKeys(c.Jobs) {
		j := c.Jobs[name]
		base := []string{"jobs", name}
		if err := j.validate(c); err != nil {
			add(base, err)
			continue
		}
		if _, err := j.Monitor.Expand(os.LookupEnv); err != nil {
			add(append(base, "monitor"), err)
		}
		if !j.Schedule.IsZero() {
			if err := schedule.CheckCalendar(ctx, j.Schedule.Calendar); err != nil {
				add(append(base, "schedule"), err)
			}
		}
	}
	if err := c.globalRunSettings.validate(c); err != nil {
		add(nil, err)
	} else if _, err := c.Monitor.Expand(os.LookupEnv); err != nil {
		add([]string{"monitor"}, err)
	}
	return out
}

// nodeLine is the line of the deepest key of path found in the document.
func nodeLine(root *yaml.Node, path []string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			break
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			break
		}
	}
	return line
}

// shownRepository is a repository as config show prints it.
type shownRepository struct {
	Name            string            `yaml:"name"`
	URL             string            `yaml:"url"`
	PasswordCommand string            `yaml:"password-command,omitempty"`
	PasswordFile    string            `yaml:"password-file,omitempty"`
	Env             map[string]string `yaml:"env,omitempty"`
}

// shownJob is a job as config show prints it: its own settings, defaults
// filled in, with what applies to it from the top of the file.
type shownJob struct {
	Job        string           `yaml:"job"`
	Settings   jobConfig        `yaml:"settings"`
	Repository shownRepository  `yaml:"repository-settings"`
	Retry      retryPolicy      `yaml:"retry"`
	Global     hookSet          `yaml:"global-hooks,omitempty"`
	Monitors   []monitor.Config `yaml:"monitors,omitempty"`
}

func (a *app) configShow(names []string) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	if len(names) == 0 {
		names = sortedKeys(cfg.Jobs)
		if len(names) == 0 {
			return unknownJobError(cfg, "")
		}
	}
	var docs []shownJob
	for _, name := range names {
		job, ok := cfg.Jobs[name]
		if !ok {
			return unknownJobError(cfg, name)
		}
		s := shownJob{Job: name, Settings: *job, Global: cfg.Hooks}
		if s.Settings.Host == "" {
			s.Settings.Host, _ = os.Hostname()
		}
		s.Settings.Monitor = monitor.Config{}
		s.Settings.Retry = nil
		s.Retry = retryPolicy{Attempts: job.Retry.attempts(), Wait: job.Retry.wait().String()}
		for _, m := range monitor.Merge(cfg.Monitor, job.Monitor) {
			s.Monitors = append(s.Monitors, m.Masked())
		}
		if r := cfg.Repositories[job.Repository]; r != nil {
			s.Repository = shownRepository{Name: job.Repository, URL: maskUserinfo(r.URL),
				PasswordCommand: maskCommand(r.PasswordCommand), PasswordFile: r.PasswordFile}
			if len(r.Env) > 0 {
				s.Repository.Env = map[string]string{}
				for k := range r.Env {
					s.Repository.Env[k] = "***"
				}
			}
		}
		docs = append(docs, s)
	}
	enc := yaml.NewEncoder(a.stdout)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	return enc.Close()
}

// maskUserinfo hides credentials written into a URL (s3://KEY:SECRET@host).
func maskUserinfo(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User("***")
	return u.String()
}

// maskCommand keeps a command's program and hides its arguments, which
// may be a passphrase ("echo hunter2") or a token.
func maskCommand(cmd string) string {
	f := strings.Fields(cmd)
	if len(f) <= 1 {
		return cmd
	}
	return f[0] + " ***"
}

// newConfigExampleCommand is cairn config example: the shipped examples,
// printed from the binary.
func newConfigExampleCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "example [NAME]",
		Short: "Print an example config file (example, nightly, usb, b2) or the JSON Schema",
		Long: `Print one of the config files that ship with cairn: example (every key,
commented; the default), nightly (MinIO plus a USB copy, monitored and
scheduled), usb, b2, or cairn.schema.json (the JSON Schema, for editors).
With --list, print their names.`,
		Example: `  cairn config example > ~/.config/cairn/config.yaml
  cairn config example nightly
  cairn config example cairn.schema.json > cairn.schema.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if list, _ := cmd.Flags().GetBool("list"); list {
				for _, n := range shippedconfig.Names() {
					fmt.Fprintln(a.stdout, n)
				}
				return nil
			}
			name := "example"
			if len(args) == 1 {
				name = args[0]
			}
			b, ok := shippedconfig.File(name)
			if !ok {
				return fmt.Errorf("no shipped config file %q; cairn config example --list names them", name)
			}
			_, err := a.stdout.Write(b)
			return err
		},
	}
	cmd.Flags().Bool("list", false, "list the shipped files")
	return cmd
}
