package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// isolate clears every variable cairn reads, so the developer's own
// environment cannot leak into a test.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	for _, k := range []string{"CAIRN_REPOSITORY", "CAIRN_PASSWORD", "CAIRN_PASSWORD_FILE", "CAIRN_PASSWORD_COMMAND",
		"CAIRN_CACHE_DIR", "CAIRN_NO_CACHE", "CAIRN_CONNECTIONS", "CAIRN_CONFIG", "CAIRN_S3_REGION", "CAIRN_S3_LOOKUP",
		"CAIRN_S3_CA_FILE", "CAIRN_S3_STORAGE_CLASS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, ".local", "state"))
	for _, k := range []string{"CAIRN_KEY_HINT", "CAIRN_KDF_MAX_MEMORY", "CAIRN_KDF_MAX_PASSES"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("CAIRN_INSECURE_TEST_KDF", "1")
	return home
}

// testApp builds an app whose persistent flags are parsed from args.
func testApp(t *testing.T, args ...string) (*app, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errb bytes.Buffer
	a := newApp(strings.NewReader(""), &out, &errb)
	root := newRootCommand(a)
	if err := root.PersistentFlags().Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return a, &out, &errb
}

const precedenceConfig = `repo: /from/config
connections: 3
repositories:
  minio:
    url: s3+http://127.0.0.1:9000/bucket/prefix
    connections: 4
    password-command: echo named
`

func TestSettingsPrecedence(t *testing.T) {
	tests := []struct {
		name        string
		config      string // "" means no config file
		env         map[string]string
		flags       []string
		wantRepo    string
		wantConns   int
		wantErrText string
	}{
		{name: "defaults", flags: []string{"--repo", "/r"}, wantRepo: "/r", wantConns: 8},
		{name: "no repository anywhere", wantErrText: "no repository given"},
		{name: "config only", config: precedenceConfig, wantRepo: "/from/config", wantConns: 3},
		{name: "env beats config", config: precedenceConfig,
			env:      map[string]string{"CAIRN_REPOSITORY": "/from/env", "CAIRN_CONNECTIONS": "5"},
			wantRepo: "/from/env", wantConns: 5},
		{name: "flag beats env and config", config: precedenceConfig,
			env:      map[string]string{"CAIRN_REPOSITORY": "/from/env", "CAIRN_CONNECTIONS": "5"},
			flags:    []string{"--repo", "/from/flag", "--connections", "7"},
			wantRepo: "/from/flag", wantConns: 7},
		{name: "short flag", flags: []string{"-r", "file:///x"}, wantRepo: "file:///x", wantConns: 8},
		{name: "env without config", env: map[string]string{"CAIRN_REPOSITORY": "/e", "CAIRN_CONNECTIONS": "2"},
			wantRepo: "/e", wantConns: 2},
		{name: "named repository from flag", config: precedenceConfig, flags: []string{"--repo", "minio"},
			wantRepo: "s3+http://127.0.0.1:9000/bucket/prefix", wantConns: 4},
		{name: "named repository from env", config: precedenceConfig, env: map[string]string{"CAIRN_REPOSITORY": "minio"},
			wantRepo: "s3+http://127.0.0.1:9000/bucket/prefix", wantConns: 4},
		{name: "env connections beat the named repository", config: precedenceConfig,
			env: map[string]string{"CAIRN_CONNECTIONS": "6"}, flags: []string{"-r", "minio"},
			wantRepo: "s3+http://127.0.0.1:9000/bucket/prefix", wantConns: 6},
		{name: "a path is never a name", config: precedenceConfig, flags: []string{"-r", "./minio"},
			wantRepo: "./minio", wantConns: 3},
		{name: "zero connections", flags: []string{"-r", "/r", "--connections", "0"}, wantErrText: "at least 1"},
		{name: "bad lookup", flags: []string{"-r", "/r", "--s3-lookup", "dns"}, wantErrText: "s3-lookup"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := isolate(t)
			if tc.config != "" {
				dir := filepath.Join(home, ".config", "cairn")
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(tc.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			a, _, _ := testApp(t, tc.flags...)
			s, err := a.resolve()
			if tc.wantErrText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrText) {
					t.Fatalf("resolve: %v, want an error containing %q", err, tc.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.repoURL != tc.wantRepo || s.connections != tc.wantConns {
				t.Errorf("repo %q connections %d, want %q and %d", s.repoURL, s.connections, tc.wantRepo, tc.wantConns)
			}
			if s.backend.Connections != s.connections {
				t.Errorf("backend connections %d, want %d", s.backend.Connections, s.connections)
			}
		})
	}
}

func TestConfigFileFlagAndEnv(t *testing.T) {
	home := isolate(t)
	a1 := filepath.Join(home, "a.yaml")
	a2 := filepath.Join(home, "b.yaml")
	os.WriteFile(a1, []byte("repo: /from/a\n"), 0o600)
	os.WriteFile(a2, []byte("repo: /from/b\n"), 0o600)
	t.Setenv("CAIRN_CONFIG", a2)
	for _, tc := range []struct {
		flags []string
		want  string
	}{{nil, "/from/b"}, {[]string{"--config", a1}, "/from/a"}} {
		a, _, _ := testApp(t, tc.flags...)
		s, err := a.resolve()
		if err != nil || s.repoURL != tc.want {
			t.Errorf("flags %q: %v, %v; want %s", tc.flags, s, err, tc.want)
		}
	}
	a, _, _ := testApp(t, "--config", filepath.Join(home, "missing.yaml"))
	if _, err := a.resolve(); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing explicit config: %v", err)
	}
}

func TestCacheDir(t *testing.T) {
	home := isolate(t)
	tests := []struct {
		env   map[string]string
		flags []string
		want  string
	}{
		{nil, nil, filepath.Join(home, ".cache", "cairn")},
		{map[string]string{"XDG_CACHE_HOME": ""}, nil, filepath.Join(home, ".cache", "cairn")},
		{map[string]string{"XDG_CACHE_HOME": "/xdg"}, nil, "/xdg/cairn"},
		{map[string]string{"CAIRN_CACHE_DIR": "/env"}, nil, "/env"},
		{map[string]string{"CAIRN_CACHE_DIR": "/env"}, []string{"--cache-dir", "/flag"}, "/flag"},
		{map[string]string{"CAIRN_CACHE_DIR": "/env"}, []string{"--no-cache"}, ""},
	}
	for _, tc := range tests {
		t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
		t.Setenv("CAIRN_CACHE_DIR", "")
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		a, _, _ := testApp(t, tc.flags...)
		got, err := a.cacheDir()
		if err != nil || got != tc.want {
			t.Errorf("env %v flags %q: cache dir %q, %v; want %q", tc.env, tc.flags, got, err, tc.want)
		}
	}
}

func TestPasswordSources(t *testing.T) {
	home := isolate(t)
	pwFile := filepath.Join(home, "pw")
	os.WriteFile(pwFile, []byte("from-file\n"), 0o600)
	cfg := filepath.Join(home, "c.yaml")
	os.WriteFile(cfg, []byte(`password-command: echo top
repositories:
  named:
    url: /named
    password-command: echo "$SECRET_FROM_ENV"
    env: {SECRET_FROM_ENV: "named-${SUFFIX}"}
`), 0o600)
	t.Setenv("SUFFIX", "pw")
	tests := []struct {
		name    string
		env     map[string]string
		flags   []string
		want    string
		wantErr string
	}{
		{name: "top-level config", flags: []string{"-r", "/x"}, want: "top"},
		{name: "named repository beats top level", flags: []string{"-r", "named"}, want: "named-pw"},
		{name: "CAIRN_PASSWORD beats config", env: map[string]string{"CAIRN_PASSWORD": "env-pw"}, flags: []string{"-r", "named"}, want: "env-pw"},
		{name: "password file env", env: map[string]string{"CAIRN_PASSWORD_FILE": pwFile}, flags: []string{"-r", "/x"}, want: "from-file"},
		{name: "command env trims one newline", env: map[string]string{"CAIRN_PASSWORD_COMMAND": "printf 'a b\\n\\n'"}, flags: []string{"-r", "/x"}, want: "a b\n"},
		{name: "flag beats env", env: map[string]string{"CAIRN_PASSWORD": "env-pw"}, flags: []string{"-r", "/x", "--password-file", pwFile}, want: "from-file"},
		{name: "two env sources", env: map[string]string{"CAIRN_PASSWORD": "a", "CAIRN_PASSWORD_FILE": pwFile}, flags: []string{"-r", "/x"}, wantErr: "keep only one"},
		{name: "failing command", flags: []string{"-r", "/x", "--password-command", "exit 3"}, wantErr: "passphrase command"},
		{name: "empty output", flags: []string{"-r", "/x", "--password-command", "true"}, wantErr: "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"CAIRN_PASSWORD", "CAIRN_PASSWORD_FILE", "CAIRN_PASSWORD_COMMAND"} {
				t.Setenv(k, "")
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			a, _, _ := testApp(t, append([]string{"--config", cfg}, tc.flags...)...)
			s, err := a.resolve()
			if err != nil {
				t.Fatal(err)
			}
			pw, err := a.passphrase(t.Context(), s, false)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("passphrase: %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || string(pw) != tc.want {
				t.Errorf("passphrase %q, %v; want %q", pw, err, tc.want)
			}
		})
	}
	// Without any source and without a terminal: a clear error.
	t.Setenv("CAIRN_PASSWORD", "")
	a, _, _ := testApp(t, "-r", "/x")
	s, _ := a.resolve()
	if _, err := a.passphrase(t.Context(), s, false); err == nil || !strings.Contains(err.Error(), "CAIRN_PASSWORD") {
		t.Errorf("no source: %v", err)
	}
}

func TestRepositoryEnvOverlay(t *testing.T) {
	home := isolate(t)
	cfg := filepath.Join(home, "c.yaml")
	os.WriteFile(cfg, []byte(`repositories:
  m:
    url: s3+http://127.0.0.1:9/bucket
    env: {AWS_ACCESS_KEY_ID: "${K}", AWS_SECRET_ACCESS_KEY: "$S"}
`), 0o600)
	t.Setenv("AWS_ACCESS_KEY_ID", "process-key")
	t.Setenv("K", "job-key")
	t.Setenv("S", "job-secret")
	a, _, _ := testApp(t, "--config", cfg, "-r", "m")
	s, err := a.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if s.backend.AccessKey != "job-key" || s.backend.SecretKey != "job-secret" {
		t.Errorf("credentials %q/%q, want the repository's env", s.backend.AccessKey, s.backend.SecretKey)
	}
	os.Unsetenv("K")
	a, _, _ = testApp(t, "--config", cfg, "-r", "m")
	if _, err := a.resolve(); err == nil || !strings.Contains(err.Error(), "$K, which is not set") {
		t.Errorf("unset variable: %v", err)
	}
}
