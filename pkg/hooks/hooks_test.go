package hooks

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestUnmarshal(t *testing.T) {
	cases := []struct {
		in   string
		want Command
		err  string
	}{
		{`echo hi | tr a-z A-Z`, Command{Shell: "echo hi | tr a-z A-Z"}, ""},
		{`[pg_dump, "-f", "/tmp/x y"]`, Command{Args: []string{"pg_dump", "-f", "/tmp/x y"}}, ""},
		{`{command: [true], timeout: 90s}`, Command{Args: []string{"true"}, Timeout: 90 * time.Second}, ""},
		{`{command: "exit 0"}`, Command{Shell: "exit 0"}, ""},
		{`{command: true, timeout: soon}`, Command{}, "not a duration"},
		{`{timeout: 5m}`, Command{}, "no command"},
		{`{command: true, timout: 5m}`, Command{}, "field timout not found"},
		{`{command: {a: b}}`, Command{}, "string or a list"},
		{`[]`, Command{}, "empty"},
		{`""`, Command{}, "empty"},
	}
	for _, c := range cases {
		var got Command
		err := yaml.Unmarshal([]byte(c.in), &got)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got.String() != c.want.String() || got.Timeout != c.want.Timeout || (got.Shell == "") != (c.want.Shell == "") {
			t.Errorf("%s: got %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

// TestEnvironmentAndOutput: the hook sees the facts it is given and not
// the passphrase; its output is in the log, prefixed with its name.
func TestEnvironmentAndOutput(t *testing.T) {
	t.Setenv("CAIRN_PASSWORD", "secret-pass")
	t.Setenv("CAIRN_REPOSITORY", "s3://outer")
	var log bytes.Buffer
	err := Run(t.Context(), "before", Command{Shell: `echo "job=$CAIRN_JOB repo=$CAIRN_REPOSITORY pw=${CAIRN_PASSWORD-unset}"; echo oops >&2`},
		[]string{"CAIRN_JOB=nightly", "CAIRN_REPOSITORY=minio"}, &log)
	if err != nil {
		t.Fatal(err)
	}
	got := log.String()
	if !strings.Contains(got, "cairn: hook before: job=nightly repo=minio pw=unset\n") ||
		!strings.Contains(got, "cairn: hook before: oops\n") {
		t.Fatalf("log:\n%s", got)
	}
}

// TestArgsNotShell: an argument list reaches the program as it is, with no
// shell expanding it.
func TestArgsNotShell(t *testing.T) {
	var log bytes.Buffer
	if err := Run(t.Context(), "after", Command{Args: []string{"echo", "$HOME; rm -rf /"}}, nil, &log); err != nil {
		t.Fatal(err)
	}
	if log.String() != "cairn: hook after: $HOME; rm -rf /\n" {
		t.Fatalf("log: %q", log.String())
	}
}

func TestFailure(t *testing.T) {
	var log bytes.Buffer
	err := Run(t.Context(), "before", Command{Shell: "echo no database; exit 4"}, nil, &log)
	if err == nil || !strings.Contains(err.Error(), "exit status 4") || errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v", err)
	}
	err = Run(t.Context(), "before", Command{Args: []string{"/nonexistent/hook"}}, nil, &log)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/hook") {
		t.Fatalf("err %v", err)
	}
}

// TestTimeoutKillsGroup: a timeout kills the shell and what it started in
// the background, not just the shell.
func TestTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	var log bytes.Buffer
	start := time.Now()
	err := Run(t.Context(), "before", Command{Shell: "sleep 300 & echo $! > " + pidFile + "; wait", Timeout: 300 * time.Millisecond}, nil, &log)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > time.Minute {
		t.Fatalf("Run waited for the background child")
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// Killed: gone, or a zombie waiting for its new parent to reap it.
	for range 100 {
		if syscall.Kill(pid, 0) != nil || isZombie(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("the hook's background child %d survived its timeout", pid)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func TestLongLineAndNoNewline(t *testing.T) {
	var log bytes.Buffer
	if err := Run(t.Context(), "finally", Command{Shell: "printf 'a\\r\\nb'"}, nil, &log); err != nil {
		t.Fatal(err)
	}
	if log.String() != "cairn: hook finally: a\ncairn: hook finally: b\n" {
		t.Fatalf("log %q", log.String())
	}
}
