package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// allCommands lists c and its subcommands, depth first.
func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommands(sub)...)
	}
	return out
}

// result is the outcome of one in-process cairn run.
type result struct {
	stdout, stderr string
	code           int
}

// cairn runs the root command in-process, as main would, with the current
// (test) environment.
func cairn(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(t.Context(), args, strings.NewReader(""), &out, &errb)
	r := result{out.String(), errb.String(), code}
	if strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("cairn %q printed a stack trace:\n%s", args, r.stderr)
	}
	return r
}

// ok runs cairn and fails the test unless it exits 0.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	r := cairn(t, args...)
	if r.code != 0 {
		t.Fatalf("cairn %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs cairn and checks the exit code and a text on stderr.
func fails(t *testing.T, code int, text string, args ...string) {
	t.Helper()
	r := cairn(t, args...)
	if r.code != code || !strings.Contains(r.stderr, text) {
		t.Fatalf("cairn %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(args, " "), r.code, r.stderr, code, text)
	}
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); !strings.Contains(r.stderr, "warning") && n > 0 {
		t.Errorf("cairn %s: error is not one line:\n%s", strings.Join(args, " "), r.stderr)
	}
}

func TestKeysAndErrors(t *testing.T) {
	home := isolate(t)
	repoDir := filepath.Join(home, "repo")
	t.Setenv("CAIRN_REPOSITORY", repoDir)
	t.Setenv("CAIRN_PASSWORD", "first pass")

	fails(t, exitNoRepository, "cairn init", "snapshots")
	r := cairn(t, "init")
	if r.code != 0 || !strings.Contains(r.stdout, "created cairn repository") || !strings.Contains(r.stderr, "CAIRN_INSECURE_TEST_KDF") {
		t.Fatalf("init: %+v", r)
	}
	if strings.Contains(r.stdout+r.stderr, "first pass") {
		t.Fatalf("init printed the passphrase")
	}
	fails(t, exitError, "already exists", "init")

	keys := listKeys(t)
	if len(keys) != 1 || !keys[0].Current {
		t.Fatalf("after init: keys %+v", keys)
	}
	pwFile := filepath.Join(home, "second")
	os.WriteFile(pwFile, []byte("second pass\n"), 0o600)
	ok(t, "key", "add", "--new-password-file", pwFile)
	fails(t, exitError, "--new-password-file", "key", "add") // no terminal

	t.Setenv("CAIRN_PASSWORD", "second pass")
	keys = listKeys(t)
	if len(keys) != 2 {
		t.Fatalf("after key add: %+v", keys)
	}
	var first, second string
	for _, k := range keys {
		if k.Current {
			second = k.ID
		} else {
			first = k.ID
		}
	}
	if out := ok(t, "key", "list"); !strings.Contains(out, "* ") || !strings.Contains(out, second[:8]) {
		t.Errorf("key list:\n%s", out)
	}
	ok(t, "key", "remove", first[:8])
	fails(t, exitError, "refusing to remove the last key", "key", "remove", second[:6])
	fails(t, exitError, "no key with ID", "key", "remove", "ffffffff")

	t.Setenv("CAIRN_PASSWORD", "first pass") // its key is gone
	fails(t, exitWrongPass, "wrong passphrase", "snapshots")
	t.Setenv("CAIRN_PASSWORD", "second pass")

	fails(t, exitNoRepository, "no cairn repository", "snapshots", "-r", filepath.Join(home, "nothing-here"))
	fails(t, exitError, "passphrase from --password-command is empty", "snapshots", "--password-command", "true")

	var cfg map[string]any
	if err := json.Unmarshal([]byte(ok(t, "cat", "config")), &cfg); err != nil || cfg["version"] != float64(1) {
		t.Errorf("cat config: %v %v", cfg, err)
	}
	if out := ok(t, "cat", "key", second[:8]); !strings.Contains(out, `"kdf"`) {
		t.Errorf("cat key:\n%s", out)
	}
	fails(t, exitError, "object type and ID", "cat", "snapshot")

	pw := filepath.Join(home, "pw")
	os.WriteFile(pw, []byte("third\n"), 0o600)
	ok(t, "key", "passwd", "--new-password-file", pw)
	fails(t, exitWrongPass, "wrong passphrase", "key", "list")
	t.Setenv("CAIRN_PASSWORD", "third")
	if keys := listKeys(t); len(keys) != 1 {
		t.Errorf("after passwd: %+v", keys)
	}
}

func listKeys(t *testing.T) []keyJSON {
	t.Helper()
	var keys []keyJSON
	if err := json.Unmarshal([]byte(ok(t, "key", "list", "--json")), &keys); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestHelpHasExamples(t *testing.T) {
	isolate(t)
	var out, errb bytes.Buffer
	root := newRootCommand(newApp(strings.NewReader(""), &out, &errb))
	for _, c := range allCommands(root) {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		if c.Example == "" {
			t.Errorf("%s has no Example", c.CommandPath())
		}
	}
	t.Setenv("CAIRN_PASSWORD", "hunter2-secret")
	r := cairn(t, "--help")
	if r.code != 0 || strings.Contains(r.stdout, "hunter2") || !strings.Contains(r.stdout, "Examples:") {
		t.Errorf("--help: %+v", r)
	}
	dir := filepath.Join(t.TempDir(), "man")
	ok(t, "man", dir)
	if _, err := os.Stat(filepath.Join(dir, "cairn-backup.1")); err != nil {
		t.Errorf("man page: %v", err)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := ok(t, "completion", sh); !strings.Contains(out, "cairn") {
			t.Errorf("completion %s printed no script", sh)
		}
	}
}
