package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cairnBin returns the binary under test: $CAIRN_BIN, or one built into a
// temporary folder.
func cairnBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("CAIRN_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "cairn")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/cairn")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build cairn: %v\n%s", err, out)
	}
	return bin
}

// client is one user or device: its own HOME, cache, passphrase and
// credentials, nothing shared with other clients but the repository.
type client struct {
	t    *testing.T
	bin  string
	repo string
	env  map[string]string
}

func newClient(t *testing.T, bin, repo, password string) *client {
	home := t.TempDir()
	return &client{t: t, bin: bin, repo: repo, env: map[string]string{
		"HOME":                      home,
		"XDG_CACHE_HOME":            filepath.Join(home, ".cache"),
		"XDG_CONFIG_HOME":           filepath.Join(home, ".config"),
		"CAIRN_PASSWORD":            password,
		"CAIRN_REPOSITORY":          repo,
		"CAIRN_INSECURE_TEST_KDF":   "1",
		"PATH":                      os.Getenv("PATH"),
		"TMPDIR":                    os.TempDir(),
		"AWS_EC2_METADATA_DISABLED": "true",
	}}
}

func (c *client) with(k, v string) *client {
	env := map[string]string{}
	for a, b := range c.env {
		env[a] = b
	}
	env[k] = v
	return &client{t: c.t, bin: c.bin, repo: c.repo, env: env}
}

type result struct {
	stdout, stderr string
	code           int
}

func (c *client) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin, args...)
	for k, v := range c.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// run runs cairn and returns its output and exit code.
func (c *client) run(args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := c.command(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		c.t.Fatalf("cairn %s: %v", strings.Join(args, " "), err)
	}
	if strings.Contains(r.stderr, "goroutine ") && strings.Contains(r.stderr, "panic") {
		c.t.Fatalf("cairn %s panicked:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

// ok runs cairn and fails the test unless it exits 0.
func (c *client) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("cairn %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// makeTree writes a varied tree under dir: nested directories, random and
// compressible files, empty files, odd names, symlinks and a hard link.
func makeTree(t *testing.T, dir string, seed uint64, files int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "a", "b", "c"), 0o755))
	for i := range files {
		sub := []string{"", "a", "a/b", "a/b/c"}[i%4]
		size := r.IntN(64 << 10)
		if i%10 == 0 {
			size = 1<<20 + r.IntN(3<<20)
		}
		data := make([]byte, size)
		if i%3 == 0 {
			for j := range data {
				data[j] = "cairn backups "[j%14]
			}
		} else {
			for j := range data {
				data[j] = byte(r.Uint32())
			}
		}
		must(os.WriteFile(filepath.Join(dir, sub, fmt.Sprintf("file-%d-%d.dat", seed, i)), data, 0o644))
	}
	must(os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600))
	must(os.WriteFile(filepath.Join(dir, "a", "name with spaces\tand tab"), []byte("odd"), 0o640))
	must(os.WriteFile(filepath.Join(dir, "a", "caf\xe9-latin1"), []byte("not utf-8"), 0o644))
	must(os.Symlink("b/c", filepath.Join(dir, "a", "link-to-c")))
	must(os.Link(filepath.Join(dir, "empty"), filepath.Join(dir, "a", "hardlink")))
	must(os.Chmod(filepath.Join(dir, "a", "b"), 0o2750))
}

// compareTrees fails the test unless got is an exact copy of want: same
// names, types, content, permission bits, mtimes (ns) and link targets.
func compareTrees(t *testing.T, want, got string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		seen[rel] = true
		gp := filepath.Join(got, rel)
		wi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		gi, err := os.Lstat(gp)
		if err != nil {
			return fmt.Errorf("restored tree lacks %q: %w", rel, err)
		}
		if wi.Mode() != gi.Mode() {
			return fmt.Errorf("%q: mode %v, want %v", rel, gi.Mode(), wi.Mode())
		}
		if wi.Mode().IsRegular() {
			a, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(gp)
			if err != nil {
				return err
			}
			if !bytes.Equal(a, b) {
				return fmt.Errorf("%q: content differs (%d bytes restored, want %d)", rel, len(b), len(a))
			}
		}
		if wi.Mode()&fs.ModeSymlink != 0 {
			a, _ := os.Readlink(p)
			b, _ := os.Readlink(gp)
			if a != b {
				return fmt.Errorf("%q: symlink to %q, want %q", rel, b, a)
			}
		}
		ws, gs := wi.Sys().(*syscall.Stat_t), gi.Sys().(*syscall.Stat_t)
		if ws.Mtim != gs.Mtim {
			return fmt.Errorf("%q: mtime %v, want %v", rel, gs.Mtim, ws.Mtim)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(got, p)
		if !seen[rel] {
			return fmt.Errorf("restored tree has extra %q", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// treeSize is the total size of the regular files under dir.
func treeSize(t *testing.T, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
