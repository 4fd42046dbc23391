package monitor

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// receiver records the requests made to it.
type receiver struct {
	mu   sync.Mutex
	reqs []request
	code int // status to answer with; 0 is 200
}

type request struct {
	method, path, query, body string
	header                    http.Header
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header})
	code := rc.code
	rc.mu.Unlock()
	if code != 0 {
		w.WriteHeader(code)
	}
}

func (rc *receiver) got() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

func newReceiver(t *testing.T) (*receiver, string) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

func report(event string) Report {
	r := Report{Event: event, Job: "nightly", Repository: "minio", OK: event != "failure", Time: time.Unix(1700000000, 0),
		Duration: 12.5, FilesNew: 3, FilesChanged: 1, FilesUnchanged: 10, BytesAdded: 4096, SnapshotID: "abcd"}
	if event == "failure" {
		r.ExitCode, r.Error, r.LogTail = 13, "storage unreachable", "cairn: line one\ncairn: line two\n"
	}
	r.Summary = json.RawMessage(`{"message_type":"summary","job":"nightly"}`)
	return r
}

func TestHealthchecksPing(t *testing.T) {
	rc, base := newReceiver(t)
	var warnings []string
	s := &Sender{Warn: func(m string) { warnings = append(warnings, m) }}
	cfg := []Config{{Ping: &Ping{URL: base + "/ping/uuid-secret"}}}
	for _, e := range []string{"start", "success", "failure"} {
		s.Send(t.Context(), cfg, report(e))
	}
	cfg[0].Ping.ExitCode = true
	s.Send(t.Context(), cfg, report("failure"))
	got := rc.got()
	wantPaths := []string{"/ping/uuid-secret/start", "/ping/uuid-secret", "/ping/uuid-secret/fail", "/ping/uuid-secret/13"}
	if len(got) != len(wantPaths) || len(warnings) != 0 {
		t.Fatalf("requests %+v, warnings %q", got, warnings)
	}
	for i, p := range wantPaths {
		if got[i].path != p || got[i].method != http.MethodPost {
			t.Errorf("request %d: %s %s, want POST %s", i, got[i].method, got[i].path, p)
		}
	}
	if !strings.Contains(got[2].body, "exit 13") || !strings.Contains(got[2].body, "cairn: line two") {
		t.Errorf("failure body lacks the exit code or the log tail:\n%s", got[2].body)
	}
	if !strings.Contains(got[1].body, "nightly ok") {
		t.Errorf("success body: %s", got[1].body)
	}
}

// TestExplicitPingURLs: uptime-kuma and cronitor style, one GET URL per event.
func TestExplicitPingURLs(t *testing.T) {
	rc, base := newReceiver(t)
	s := &Sender{}
	cfg := []Config{{Ping: &Ping{Start: base + "/p/KEY/job?state=run", Success: base + "/api/push/TOKEN?status=up", Failure: base + "/api/push/TOKEN?status=down"}}}
	for _, e := range []string{"start", "success", "failure"} {
		s.Send(t.Context(), cfg, report(e))
	}
	got := rc.got()
	want := []string{"/p/KEY/job?state=run", "/api/push/TOKEN?status=up", "/api/push/TOKEN?status=down"}
	if len(got) != 3 {
		t.Fatalf("requests %+v", got)
	}
	for i, w := range want {
		if got[i].method != http.MethodGet || got[i].path+"?"+got[i].query != w {
			t.Errorf("request %d: %s %s?%s, want GET %s", i, got[i].method, got[i].path, got[i].query, w)
		}
	}
}

func TestWebhookBodies(t *testing.T) {
	rc, base := newReceiver(t)
	s := &Sender{}
	cfg := []Config{{Webhooks: []Webhook{
		{URL: base + "/json"},
		{URL: base + "/ntfy", On: []string{"failure"}, Headers: map[string]string{"Title": "cairn {{.Job}}", "Authorization": "Bearer tk"},
			Body: "{{.Job}} failed with exit {{.ExitCode}}: {{.Error}}"},
		{URL: base + "/slack", On: []string{"start", "success"}, Body: `{"text": "cairn {{.Job}} {{.Event}}"}`},
	}}}
	for _, e := range []string{"start", "success", "failure"} {
		s.Send(t.Context(), cfg, report(e))
	}
	got := rc.got()
	var paths []string
	for _, g := range got {
		paths = append(paths, g.path)
	}
	if strings.Join(paths, " ") != "/slack /json /slack /json /ntfy" {
		t.Fatalf("requests to %v", paths)
	}
	if got[1].body != `{"message_type":"summary","job":"nightly"}` || got[1].header.Get("Content-Type") != "application/json" {
		t.Errorf("json webhook: %q %q", got[1].body, got[1].header.Get("Content-Type"))
	}
	if got[4].body != "nightly failed with exit 13: storage unreachable" || got[4].header.Get("Title") != "cairn nightly" ||
		got[4].header.Get("Authorization") != "Bearer tk" || !strings.HasPrefix(got[4].header.Get("Content-Type"), "text/plain") {
		t.Errorf("ntfy webhook: %+v", got[4])
	}
	if got[2].body != `{"text": "cairn nightly success"}` || got[2].header.Get("Content-Type") != "application/json" {
		t.Errorf("slack webhook: %+v", got[2])
	}
}

// TestUnreachableIsAWarningWithoutSecrets: a monitor that is down, or
// answers 500, is retried a bounded number of times and then warned about
// without its path, query or userinfo.
func TestUnreachableIsAWarningWithoutSecrets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://user:pw@" + ln.Addr().String()
	ln.Close()
	rc, base := newReceiver(t)
	rc.code = 503
	var warnings []string
	s := &Sender{Wait: time.Millisecond, Warn: func(m string) { warnings = append(warnings, m) }}
	s.Send(t.Context(), []Config{{Ping: &Ping{URL: dead + "/uuid-secret"}, Webhooks: []Webhook{{URL: base + "/hook/secret-token?key=secret-q"}}}}, report("failure"))
	if len(warnings) != 2 {
		t.Fatalf("warnings %q", warnings)
	}
	for _, w := range warnings {
		if strings.Contains(w, "secret") || strings.Contains(w, "pw") {
			t.Errorf("warning shows a secret: %s", w)
		}
	}
	if !strings.Contains(warnings[1], "503") || !strings.Contains(warnings[1], base+"/***") {
		t.Errorf("warning %q", warnings[1])
	}
	if n := len(rc.got()); n != 3 {
		t.Errorf("503 tried %d times, want 3", n)
	}
	// A 4xx is not retried.
	rc.code = 404
	s.Send(t.Context(), []Config{{Webhooks: []Webhook{{URL: base + "/x"}}}}, report("success"))
	if n := len(rc.got()); n != 4 {
		t.Errorf("404 tried %d times, want 1", n-3)
	}
}

func TestMaskURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hc-ping.com/5f1a-uuid":               "https://hc-ping.com/***",
		"https://u:p@example.com/x?token=1":           "https://***@example.com/***",
		"https://ntfy.sh":                             "https://ntfy.sh",
		"https://hooks.slack.com/services/T/B/secret": "https://hooks.slack.com/***",
		"http://127.0.0.1:8080/?k=v":                  "http://127.0.0.1:8080/***",
		"not a url with secret":                       "***",
	} {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTextfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cairn.prom")
	if err := WriteTextfile(path, report("success")); err != nil {
		t.Fatal(err)
	}
	other := report("success")
	other.Job = `we"ird`
	if err := WriteTextfile(path, other); err != nil {
		t.Fatal(err)
	}
	fail := report("failure")
	fail.Time = time.Unix(1700009999, 0)
	if err := WriteTextfile(path, fail); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		"# TYPE cairn_job_last_success_timestamp_seconds gauge\n",
		`cairn_job_last_success_timestamp_seconds{job="nightly"} 1.7e+09` + "\n", // kept from the success
		`cairn_job_last_run_timestamp_seconds{job="nightly"} 1.700009999e+09` + "\n",
		`cairn_job_exit_code{job="nightly"} 13` + "\n",
		`cairn_job_exit_code{job="we\"ird"} 0` + "\n",
		`cairn_job_files{job="we\"ird"} 14` + "\n",
		`cairn_job_bytes_added{job="we\"ird"} 4096` + "\n",
		`cairn_job_duration_seconds{job="nightly"} 12.5` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("textfile lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "# TYPE cairn_job_exit_code") != 1 {
		t.Errorf("metric header repeated:\n%s", got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}
	// No temporary file is left beside it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("left %s", e.Name())
		}
	}
}

func TestConfigYAML(t *testing.T) {
	var c Config
	err := yaml.Unmarshal([]byte("ping: https://hc-ping.com/x\nwebhooks:\n  - {url: 'https://ntfy.sh/t', on: [failure]}\n"), &c)
	if err != nil || c.Ping.URL != "https://hc-ping.com/x" || c.Webhooks[0].On[0] != "failure" {
		t.Fatalf("%+v %v", c, err)
	}
	err = yaml.Unmarshal([]byte("ping: {url: 'https://x/y', exit_code: true}\n"), &c)
	if err == nil || !strings.Contains(err.Error(), "field exit_code not found") {
		t.Fatalf("unknown key: %v", err)
	}
	for _, bad := range []Config{
		{Ping: &Ping{}},
		{Ping: &Ping{URL: "ftp://x/secret"}},
		{Webhooks: []Webhook{{URL: "https://x", On: []string{"always"}}}},
		{Webhooks: []Webhook{{URL: "https://x", Body: "{{.Job"}}},
		{Webhooks: []Webhook{{}}},
	} {
		err := bad.Validate()
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	c = Config{Ping: &Ping{URL: "https://hc/${HC}"}}
	if _, err := c.Expand(func(string) (string, bool) { return "", false }); err == nil || !strings.Contains(err.Error(), "$HC") {
		t.Errorf("unset variable: %v", err)
	}
	e, err := c.Expand(func(string) (string, bool) { return "uuid", true })
	if err != nil || e.Ping.URL != "https://hc/uuid" {
		t.Errorf("%+v %v", e, err)
	}
}
