package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExampleConfigs: every file in config/ parses strictly and validates,
// and example.yaml keeps the documented shape.
func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../../config/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d example configs in config/, want at least 3", len(files))
	}
	for _, f := range files {
		cfg, err := readConfigFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(cfg.Jobs) == 0 || len(cfg.Repositories) == 0 {
			t.Errorf("%s: no jobs or repositories", f)
		}
		for name, job := range cfg.Jobs {
			if _, err := newJobSpec(name, job); err != nil {
				t.Errorf("%s: job %s: %v", f, name, err)
			}
			if !job.Keep.empty() {
				if _, err := job.Keep.policy(); err != nil {
					t.Errorf("%s: job %s: %v", f, name, err)
				}
			}
		}
	}
	cfg, err := readConfigFile("../../config/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Repositories["minio"]
	j := cfg.Jobs["nightly"]
	if m == nil || j == nil {
		t.Fatalf("example.yaml lacks repositories.minio or jobs.nightly")
	}
	if m.URL != "s3+http://127.0.0.1:9000/backups/laptop" || m.PasswordCommand != "pass show cairn" ||
		m.Env["AWS_ACCESS_KEY_ID"] != "${MINIO_KEY}" || m.Env["AWS_SECRET_ACCESS_KEY"] != "${MINIO_SECRET}" {
		t.Errorf("repositories.minio = %+v", m)
	}
	if j.Repository != "minio" || strings.Join(j.Paths, ",") != "~/Documents,~/Pictures" ||
		strings.Join(j.Exclude, ",") != "**/node_modules,*.tmp" || strings.Join(j.Tags, ",") != "nightly" ||
		j.Keep.Last != 3 || j.Keep.Daily != 7 || j.Keep.Weekly != 4 || j.Keep.Monthly != 12 || !j.Prune ||
		j.Check == nil || j.Check.ReadDataSubset != "5%" {
		t.Errorf("jobs.nightly = %+v", j)
	}
	spec, err := newJobSpec("nightly", j)
	if err != nil {
		t.Fatal(err)
	}
	home, _ := os.UserHomeDir()
	if spec.paths[0] != filepath.Join(home, "Documents") {
		t.Errorf("~ not expanded: %q", spec.paths[0])
	}
	if got := spec.maintenance(); len(got) != 3 || got[0].name != "forget" || got[1].name != "prune" || got[2].name != "check" {
		t.Errorf("maintenance steps %v", got)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", "repositorys: {}\n", "repositorys"},
		{"unknown job key", "repositories: {r: {url: /x}}\njobs: {j: {repository: r, paths: [/a], exclued: [x]}}\n", "exclued"},
		{"missing url", "repositories: {r: {password-command: x}}\n", "url is missing"},
		{"bad url", "repositories: {r: {url: 'sftp://h/x'}}\n", "unsupported scheme"},
		{"two password sources", "repositories: {r: {url: /x, password-file: a, password-command: b}}\n", "not both"},
		{"bad pack size", "repositories: {r: {url: /x, pack-size: huge}}\n", "pack-size"},
		{"tiny pack size", "repositories: {r: {url: /x, pack-size: 1k}}\n", "between 1M and 1G"},
		{"bad compression", "repositories: {r: {url: /x, compression: max}}\n", "compression"},
		{"undefined repository", "jobs: {j: {repository: nope, paths: [/a]}}\n", `repository "nope" is not defined`},
		{"no paths", "repositories: {r: {url: /x}}\njobs: {j: {repository: r}}\n", "paths is empty"},
		{"bad exclude", "repositories: {r: {url: /x}}\njobs: {j: {repository: r, paths: [/a], exclude: ['[']}}\n", "exclude pattern"},
		{"negative keep", "repositories: {r: {url: /x}}\njobs: {j: {repository: r, paths: [/a], keep: {last: -2}}}\n", "negative"},
		{"bad within", "repositories: {r: {url: /x}}\njobs: {j: {repository: r, paths: [/a], keep: {within: 3 days}}}\n", "within"},
		{"bad subset", "repositories: {r: {url: /x}}\njobs: {j: {repository: r, paths: [/a], check: {read-data-subset: 200%}}}\n", "read-data"},
		{"bad size", "repositories: {r: {url: /x}}\njobs: {j: {repository: r, paths: [/a], exclude-larger-than: big}}\n", "exclude-larger-than"},
		{"not yaml", "repositories: [\n", "test.yaml:1: "},
		{"wrong type", "connections: many\n", "test.yaml:1: connections: \"many\" is not a whole number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.yaml), "test.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseConfig: %v, want an error containing %q", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "test.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	if cfg, err := parseConfig(nil, "empty.yaml"); err != nil || len(cfg.Jobs) != 0 {
		t.Errorf("empty config: %v", err)
	}
}

func TestParseAge(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"30d", 30 * day, false},
		{"2w", 14 * day, false},
		{"1y2m", 365*day + 60*day, false},
		{"12h", 12 * time.Hour, false},
		{"30m", 30 * 30 * day, false}, // months, as in restic
		{"1h30m", 90 * time.Minute, false},
		{"1.5h", 90 * time.Minute, false},
		{"1d2d", 0, true},
		{"-1h", 0, true},
		{"", 0, true},
		{"3 days", 0, true},
		{"5", 0, true},
		{"d", 0, true},
	}
	for _, tc := range tests {
		got, err := parseAge(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("parseAge(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestExpandEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"A": "1", "EMPTY": ""}[k]
		return v, ok
	}
	got, err := expandEnv(map[string]string{"X": "${A}-$A-lit", "Y": "${EMPTY}", "Z": "plain"}, lookup)
	if err != nil || got["X"] != "1-1-lit" || got["Y"] != "" || got["Z"] != "plain" {
		t.Errorf("expandEnv = %v, %v", got, err)
	}
	if _, err := expandEnv(map[string]string{"X": "${MISSING}"}, lookup); err == nil || !strings.Contains(err.Error(), "MISSING") {
		t.Errorf("missing variable: %v", err)
	}
}

// YAML mistakes are reported with file, line and key, in YAML words, one
// line each, and never with the decoder's Go type names.
func TestConfigErrorsReadable(t *testing.T) {
	data := []byte("repositories:\n  usb:\n    url: /tmp/x\n    connections: lots\n    conections: 3\njobs:\n  n:\n    repository: usb\n    paths: /tmp\n")
	_, err := parseConfig(data, "my.yaml")
	if err == nil {
		t.Fatal("no error for a broken file")
	}
	got := errorLine(err, false)
	for _, want := range []string{
		"my.yaml has 3 mistakes",
		`my.yaml:4: connections: "lots" is not a whole number`,
		`my.yaml:5: unknown key "conections"`,
		`my.yaml:9: paths: "/tmp" is not a list`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("message lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"main.", "!!", "unmarshal"} {
		if strings.Contains(got, bad) {
			t.Errorf("message shows %q:\n%s", bad, got)
		}
	}
}
