package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/check"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// monitorReceiver records what the monitors sent, on loopback.
type monitorReceiver struct {
	mu   sync.Mutex
	reqs []string // "METHOD PATH\nBODY"
	url  string
}

func newMonitorReceiver(t *testing.T) *monitorReceiver {
	rc := &monitorReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, r.Method+" "+r.URL.Path+"\n"+string(b))
		rc.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

// take returns the requests so far and forgets them.
func (rc *monitorReceiver) take() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	r := rc.reqs
	rc.reqs = nil
	return r
}

func paths(reqs []string) string {
	var out []string
	for _, r := range reqs {
		out = append(out, strings.SplitN(r, "\n", 2)[0])
	}
	return strings.Join(out, ", ")
}

// jobsFixture is a config with a local repository and one job that
// records its hooks' environment, pings the receiver and writes metrics.
type jobsFixture struct {
	home, cfg, repoDir, prom, envDir string
	rc                               *monitorReceiver
}

func newJobsFixture(t *testing.T, jobExtra string) *jobsFixture {
	home := isolate(t)
	f := &jobsFixture{home: home, repoDir: filepath.Join(home, "repo"), prom: filepath.Join(home, "cairn.prom"),
		envDir: filepath.Join(home, "env"), rc: newMonitorReceiver(t)}
	makeSmallTree(t, filepath.Join(home, "Documents"))
	if err := os.Mkdir(f.envDir, 0o700); err != nil {
		t.Fatal(err)
	}
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	f.cfg = writeFile(t, home, "cairn.yaml", fmt.Sprintf(`retry-for: 1s
hooks:
  finally: 'env > %[3]s/global-finally'
monitor:
  webhooks:
    - url: %[2]s/global/secret-token
repositories:
  local:
    url: %[1]s
    password-command: echo job-pass
  wrongpass:
    url: %[1]s
    password-command: echo not-the-pass
  dead:
    url: s3+http://%[5]s/bucket
    password-command: echo job-pass
    env: {AWS_ACCESS_KEY_ID: k, AWS_SECRET_ACCESS_KEY: s}
jobs:
  nightly:
    repository: local
    paths: [~/Documents]
    hooks:
      before: ['sh', '-c', 'env > %[3]s/before']
      after: 'env > %[3]s/after'
      on-failure: 'env > %[3]s/on-failure'
    monitor:
      ping: {url: '%[2]s/ping/uuid', exit-code: true}
      prometheus-textfile: %[4]s
%[6]s`, f.repoDir, f.rc.url, f.envDir, f.prom, deadAddr,
		strings.NewReplacer("PINGURL", f.rc.url, "ENVDIR", f.envDir).Replace(jobExtra)))
	ok(t, "--config", f.cfg, "--repo", "local", "init")
	return f
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the hook did not run: %v", err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	return env
}

// TestRunSuccessTellsEveryone: a good run runs its hooks with the
// documented environment, pings start and success, POSTs the JSON
// summary and writes the metrics.
func TestRunSuccessTellsEveryone(t *testing.T) {
	f := newJobsFixture(t, "")
	t.Setenv("CAIRN_PASSWORD", "job-pass")
	out := ok(t, "--config", f.cfg, "run", "nightly")
	if !strings.Contains(out, "before  ok") || !strings.Contains(out, "after   ok") {
		t.Errorf("summary lacks the hooks:\n%s", out)
	}
	reqs := f.rc.take()
	if got := paths(reqs); got != "POST /ping/uuid/start, POST /global/secret-token, POST /ping/uuid" {
		t.Fatalf("monitor requests: %s", got)
	}
	var sum runSummary
	if err := json.Unmarshal([]byte(strings.SplitN(reqs[1], "\n", 2)[1]), &sum); err != nil || !sum.OK || sum.Job != "nightly" || sum.ExitCode != 0 {
		t.Errorf("webhook summary %+v, %v", sum, err)
	}

	before := readEnv(t, filepath.Join(f.envDir, "before"))
	after := readEnv(t, filepath.Join(f.envDir, "after"))
	final := readEnv(t, filepath.Join(f.envDir, "global-finally"))
	for _, env := range []map[string]string{before, after, final} {
		if env["CAIRN_JOB"] != "nightly" || env["CAIRN_REPOSITORY"] != "local" {
			t.Errorf("job facts: %q %q", env["CAIRN_JOB"], env["CAIRN_REPOSITORY"])
		}
		for k, v := range env {
			if strings.Contains(v, "job-pass") {
				t.Errorf("a hook sees the passphrase in %s", k)
			}
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(after["CAIRN_SNAPSHOT_ID"]) || after["CAIRN_EXIT_CODE"] != "0" ||
		after["CAIRN_FILES_NEW"] == "0" || after["CAIRN_FILES_NEW"] == "" || after["CAIRN_BYTES_ADDED"] == "0" ||
		after["CAIRN_ERROR"] != "" || after["CAIRN_DURATION_SECONDS"] == "" || after["CAIRN_HOOK"] != "after" {
		t.Errorf("after hook environment: %v", after)
	}
	if _, err := os.Stat(filepath.Join(f.envDir, "on-failure")); err == nil {
		t.Error("on-failure ran after a success")
	}
	prom, err := os.ReadFile(f.prom)
	if err != nil || !strings.Contains(string(prom), `cairn_job_exit_code{job="nightly"} 0`) ||
		!strings.Contains(string(prom), `cairn_job_last_success_timestamp_seconds{job="nightly"} `) {
		t.Errorf("textfile %v:\n%s", err, prom)
	}
}

// failedRun runs the job, which must fail with code, and returns stderr
// and the monitor requests.
func failedRun(t *testing.T, f *jobsFixture, code int, args ...string) (string, []string) {
	t.Helper()
	r := cairn(t, append([]string{"--config", f.cfg, "run"}, args...)...)
	if r.code != code {
		t.Fatalf("run %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, code, r.stdout, r.stderr)
	}
	return r.stderr, f.rc.take()
}

// TestRunFailuresAreReported: every kind of failure pings /<exit code>
// with the log's tail, runs on-failure, and never leaks a monitor's
// secret path into the log.
func TestRunFailuresAreReported(t *testing.T) {
	f := newJobsFixture(t, `  brokenhook:
    repository: local
    paths: [~/Documents]
    hooks: {before: 'echo cannot reach the database; exit 3'}
    monitor: {ping: '`+"PINGURL"+`/ping/hook'}
  missing:
    repository: local
    paths: [~/no-such-dir]
    monitor: {ping: {url: 'PINGURL/ping/missing', exit-code: true}}
  unreachable:
    repository: dead
    paths: [~/Documents]
    retry: {attempts: 2, wait: 1ms}
    monitor: {ping: {url: 'PINGURL/ping/dead', exit-code: true}}
  wrongpass:
    repository: wrongpass
    paths: [~/Documents]
    retry: {attempts: 3, wait: 1ms}
    hooks: {on-failure: 'env > ENVDIR/wrongpass-failure'}
    monitor: {ping: {url: 'PINGURL/ping/wrongpass', exit-code: true}}
`)

	// A before hook that fails skips the backup.
	stderr, reqs := failedRun(t, f, exitError, "brokenhook")
	if got := paths(reqs); got != "POST /ping/hook/start, POST /global/secret-token, POST /ping/hook/fail" {
		t.Fatalf("before hook failure: %s", got)
	}
	if !strings.Contains(reqs[2], "cairn: hook job before: cannot reach the database") {
		t.Errorf("fail ping lacks the hook's output:\n%s", reqs[2])
	}
	if !strings.Contains(stderr, "cairn: hook job before: cannot reach the database") || strings.Contains(stderr, "secret-token") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if out := ok(t, "--config", f.cfg, "--repo", "local", "snapshots", "--json"); strings.Contains(out, "snapshot_id") || strings.Contains(out, `"id"`) {
		t.Errorf("a snapshot was saved although the before hook failed:\n%s", out)
	}

	// The backup itself fails.
	_, reqs = failedRun(t, f, exitError, "missing")
	if got := paths(reqs); got != "POST /ping/missing/start, POST /global/secret-token, POST /ping/missing/1" {
		t.Fatalf("backup failure: %s", got)
	}
	if !strings.Contains(reqs[2], "no-such-dir") {
		t.Errorf("fail ping lacks the error:\n%s", reqs[2])
	}

	// The repository is unreachable: retried, then reported.
	stderr, reqs = failedRun(t, f, exitError, "unreachable")
	if got := paths(reqs); got != "POST /ping/dead/start, POST /global/secret-token, POST /ping/dead/1" {
		t.Fatalf("unreachable: %s", got)
	}
	if !strings.Contains(stderr, "attempt 1 of 2 failed") || strings.Contains(stderr, "attempt 2 of 2") || !strings.Contains(reqs[2], "connection refused") {
		t.Errorf("unreachable repository was not retried or not reported:\n%s\n%s", stderr, reqs[2])
	}

	// A wrong passphrase is never retried.
	stderr, reqs = failedRun(t, f, exitWrongPass, "wrongpass")
	if strings.Contains(stderr, "attempt 1") {
		t.Errorf("a wrong passphrase was retried:\n%s", stderr)
	}
	if got := paths(reqs); got != "POST /ping/wrongpass/start, POST /global/secret-token, POST /ping/wrongpass/12" {
		t.Fatalf("wrong passphrase: %s", got)
	}
	env := readEnv(t, filepath.Join(f.envDir, "wrongpass-failure"))
	if env["CAIRN_EXIT_CODE"] != "12" || !strings.Contains(env["CAIRN_ERROR"], "passphrase") || env["CAIRN_SNAPSHOT_ID"] != "" {
		t.Errorf("on-failure environment: %v", env)
	}

	// Several jobs: one summary, the worst exit code, every job run.
	r := cairn(t, "--config", f.cfg, "run", "missing", "wrongpass", "nightly")
	if r.code != exitWrongPass || !strings.Contains(r.stdout, "3 jobs: 1 done, 2 FAILED (missing, wrongpass)") {
		t.Fatalf("several jobs: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	prom, _ := os.ReadFile(f.prom)
	if !strings.Contains(string(prom), `cairn_job_exit_code{job="nightly"} 0`) {
		t.Errorf("textfile:\n%s", prom)
	}
}

// TestRunMonitorDownIsAWarning: the backup succeeds when no monitor can
// be reached, and the warning hides the monitor's secret path.
func TestRunMonitorDownIsAWarning(t *testing.T) {
	f := newJobsFixture(t, "")
	b, _ := os.ReadFile(f.cfg)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	if err := os.WriteFile(f.cfg, []byte(strings.ReplaceAll(string(b), f.rc.url, deadURL)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := cairn(t, "--config", f.cfg, "run", "nightly")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: monitor: ping success to "+deadURL+"/*** failed") ||
		strings.Contains(r.stderr, "uuid") || strings.Contains(r.stderr, "secret-token") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}

// TestRunLock: a second run of a job that is running fails at once with
// exit 11, or waits with --lock-wait; other jobs are not held up.
func TestRunLock(t *testing.T) {
	f := newJobsFixture(t, "")
	release, err := lockJob(t.Context(), "nightly", 0)
	if err != nil {
		t.Fatal(err)
	}
	r := cairn(t, "--config", f.cfg, "run", "nightly")
	if r.code != exitLocked || !strings.Contains(r.stderr, "job nightly is already running (cairn process "+fmt.Sprint(os.Getpid())) ||
		!strings.Contains(r.stderr, "--lock-wait") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if got := paths(f.rc.take()); !strings.Contains(got, "/ping/uuid/11") {
		t.Errorf("a locked-out run was not reported: %s", got)
	}
	done := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		release()
		close(done)
	}()
	ok(t, "--config", f.cfg, "run", "nightly", "--lock-wait", "1m")
	<-done
}

func TestSelectJobs(t *testing.T) {
	cfg := &fileConfig{path: "c.yaml", Jobs: map[string]*jobConfig{"a": {}, "b": {}, "c": {}}}
	cfg.Groups = map[string][]string{"night": {"c", "a"}}
	for _, tc := range []struct {
		args []string
		all  bool
		want string
	}{
		{[]string{"b"}, false, "b"},
		{[]string{"night"}, false, "c a"},
		{[]string{"night", "a", "b"}, false, "c a b"},
		{nil, true, "a b c"},
	} {
		got, err := selectJobs(cfg, tc.args, tc.all)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%q all=%v: %q %v, want %q", tc.args, tc.all, got, err, tc.want)
		}
	}
	for _, bad := range [][]string{nil, {"nope"}, {"a", "nope"}} {
		if _, err := selectJobs(cfg, bad, false); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := selectJobs(cfg, []string{"a"}, true); err == nil {
		t.Error("names and --all accepted")
	}
}

// TestTransientJobError: what a retry may repeat and what it must not.
func TestTransientJobError(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"storage unreachable", fmt.Errorf("open: %w", storage.ErrTransient), true},
		{"check incomplete (13)", fmt.Errorf("check: %w", check.ErrIncomplete), true},
		{"lease conflict (11)", fmt.Errorf("backup: %w", repo.ErrLease), true},
		{"network error", fmt.Errorf("put: %w", netErr), true},
		{"connection reset", fmt.Errorf("get: %w", syscall.ECONNRESET), true},
		{"timeout", fmt.Errorf("get: %w", context.DeadlineExceeded), true},
		{"wrong passphrase (12)", fmt.Errorf("open: %w", crypto.ErrWrongPassphrase), false},
		{"wrong passphrase after a network hiccup", errors.Join(crypto.ErrWrongPassphrase, storage.ErrTransient), false},
		{"no repository (10)", fmt.Errorf("open: %w", repo.ErrNoRepository), false},
		{"no repository at the storage (10)", fmt.Errorf("open: %w", storage.ErrNoRepository), false},
		{"permission", fmt.Errorf("put: %w: %w", storage.ErrPermission, netErr), false},
		{"damage", fmt.Errorf("load: %w", repo.ErrCorrupt), false},
		{"config mistake", errors.New("job x: paths is empty"), false},
		{"partial backup (3)", &partialError{snapshot: "abcd", skipped: 1}, false},
		{"job already running", &jobBusyError{job: "x"}, false},
		{"interrupted", context.Canceled, false},
	} {
		if got := transientJobError(tc.err); got != tc.want {
			t.Errorf("%s: transient %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWorstExit(t *testing.T) {
	err := jobsError([]error{&partialError{snapshot: "a"}, fmt.Errorf("x: %w", crypto.ErrWrongPassphrase), errors.New("plain")})
	if code := exitCode(err, false); code != exitWrongPass {
		t.Errorf("exit %d, want %d", code, exitWrongPass)
	}
	if !strings.Contains(err.Error(), "3 jobs failed") {
		t.Errorf("message %q", err)
	}
	if code := exitCode(jobsError([]error{&partialError{snapshot: "a"}, errors.New("plain")}), false); code != exitError {
		t.Errorf("error and partial: exit %d, want 1", code)
	}
}

// TestRunInterruptedRunsFinally: after SIGINT the hung before hook is
// killed, the finally hooks still run (to clean up), and the monitors
// hear of the interruption.
func TestRunInterruptedRunsFinally(t *testing.T) {
	f := newJobsFixture(t, `  slow:
    repository: local
    paths: [~/Documents]
    hooks: {before: 'touch ENVDIR/started; sleep 60', finally: 'env > ENVDIR/slow-finally'}
    monitor: {ping: {url: 'PINGURL/ping/slow', exit-code: true}}
`)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		for range 500 {
			if _, err := os.Stat(filepath.Join(f.envDir, "started")); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	var out, errb strings.Builder
	code := execute(ctx, []string{"--config", f.cfg, "run", "slow"}, strings.NewReader(""), &out, &errb)
	if code != exitInterrupted {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	env := readEnv(t, filepath.Join(f.envDir, "slow-finally"))
	if env["CAIRN_EXIT_CODE"] != "130" {
		t.Errorf("finally after an interruption: %v", env)
	}
	if got := paths(f.rc.take()); !strings.Contains(got, "POST /ping/slow/130") {
		t.Errorf("monitor requests: %s", got)
	}
}
