package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Report is what a monitor is told about one run of a job. Webhook
// templates see these fields ({{.Job}}, {{.ExitCode}}, ...).
type Report struct {
	Event          string  // start, success or failure
	Job            string  // the job's name
	Repository     string  // the repository's name in the config
	OK             bool    // the job succeeded
	ExitCode       int     // cairn's exit code for the job
	Error          string  // the error, one line; empty on success
	SnapshotID     string  // the new snapshot, if one was saved
	Duration       float64 // seconds
	FilesNew       int64
	FilesChanged   int64
	FilesUnchanged int64
	BytesAdded     int64
	// Summary is the job's JSON summary (cairn run --json's line): the
	// default webhook body.
	Summary json.RawMessage
	// LogTail is the end of what the job logged, sent with failures.
	LogTail string
	// Time is when the run ended (or started, for start).
	Time time.Time
}

// SummaryJSON is Summary as text, for templates ({{.SummaryJSON}}).
func (r Report) SummaryJSON() string { return string(r.Summary) }

// Sender sends reports. The zero value is usable with the defaults.
type Sender struct {
	Client *http.Client
	// Timeout bounds each request (default 10 s); Attempts is how many
	// times a request is tried (default 3), Wait the pause after the first
	// failure, doubled after each (default 1 s).
	Timeout  time.Duration
	Attempts int
	Wait     time.Duration
	// Warn receives one line per monitor that could not be told. It never
	// contains a URL beyond its host.
	Warn func(msg string)
	// UserAgent is sent with every request.
	UserAgent string
}

func (s *Sender) warn(format string, args ...any) {
	if s.Warn != nil {
		s.Warn(fmt.Sprintf(format, args...))
	}
}

// Send tells every monitor in cfgs about r. Failures are warnings: Send
// has no error to return, by design.
func (s *Sender) Send(ctx context.Context, cfgs []Config, r Report) {
	for _, c := range cfgs {
		if p := c.Ping; p != nil {
			s.ping(ctx, *p, r)
		}
		for _, w := range c.Webhooks {
			if w.wants(r.Event) {
				s.webhook(ctx, w, r)
			}
		}
		if c.PrometheusTextfile != "" && r.Event != "start" {
			if err := WriteTextfile(c.PrometheusTextfile, r); err != nil {
				s.warn("monitor: prometheus textfile: %v (the backup itself is not affected)", err)
			}
		}
	}
}

// maxTail bounds the log sent with a failure ping (healthchecks.io keeps
// the first 100 kB of a body).
const maxTail = 10 << 10

func (s *Sender) ping(ctx context.Context, p Ping, r Report) {
	var explicit, url string
	switch r.Event {
	case "start":
		explicit = p.Start
		if p.URL != "" {
			url = strings.TrimRight(p.URL, "/") + "/start"
		}
	case "success":
		explicit, url = p.Success, p.URL
	default:
		explicit = p.Failure
		if p.URL != "" {
			url = strings.TrimRight(p.URL, "/") + "/fail"
			if p.ExitCode {
				url = strings.TrimRight(p.URL, "/") + "/" + strconv.Itoa(r.ExitCode)
			}
		}
	}
	if explicit != "" {
		s.do(ctx, "ping "+r.Event, http.MethodGet, explicit, nil, nil)
		return
	}
	if url == "" {
		return
	}
	body := ""
	switch r.Event {
	case "success":
		body = fmt.Sprintf("cairn job %s ok in %.0fs: %d new, %d changed files, %d bytes added; snapshot %s\n",
			r.Job, r.Duration, r.FilesNew, r.FilesChanged, r.BytesAdded, r.SnapshotID)
	case "failure":
		body = fmt.Sprintf("cairn job %s failed (exit %d): %s\n\n%s", r.Job, r.ExitCode, r.Error, tail(r.LogTail, maxTail))
	}
	s.do(ctx, "ping "+r.Event, http.MethodPost, url, map[string]string{"Content-Type": "text/plain; charset=utf-8"}, []byte(body))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func (s *Sender) webhook(ctx context.Context, w Webhook, r Report) {
	body := []byte(r.Summary)
	headers := map[string]string{"Content-Type": "application/json"}
	if w.Body != "" {
		b, err := render(w.Body, r)
		if err != nil {
			s.warn("monitor: webhook %s: body: %v", MaskURL(w.URL), err)
			return
		}
		body = []byte(b)
		headers["Content-Type"] = "text/plain; charset=utf-8"
		if json.Valid(body) {
			headers["Content-Type"] = "application/json"
		}
	}
	for k, v := range w.Headers {
		h, err := render(v, r)
		if err != nil {
			s.warn("monitor: webhook %s: header %s: %v", MaskURL(w.URL), k, err)
			return
		}
		headers[k] = h
	}
	s.do(ctx, "webhook "+r.Event, http.MethodPost, w.URL, headers, body)
}

func render(text string, r Report) (string, error) {
	t, err := parseTemplate(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, r); err != nil {
		return "", err
	}
	return b.String(), nil
}

// do makes one request, retrying network failures, 429 and 5xx.
func (s *Sender) do(ctx context.Context, what, method, url string, headers map[string]string, body []byte) {
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	timeout, attempts, wait := s.Timeout, s.Attempts, s.Wait
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if attempts <= 0 {
		attempts = 3
	}
	if wait <= 0 {
		wait = time.Second
	}
	var last string
	for i := range attempts {
		if i > 0 {
			t := time.NewTimer(wait << (i - 1))
			select {
			case <-ctx.Done():
				t.Stop()
				s.warn("monitor: %s to %s not sent: %v", what, MaskURL(url), ctx.Err())
				return
			case <-t.C:
			}
		}
		retry, err := s.once(ctx, client, timeout, method, url, headers, body)
		if err == "" {
			return
		}
		last = err
		if !retry {
			break
		}
	}
	s.warn("monitor: %s to %s failed: %s (the backup itself is not affected)", what, MaskURL(url), last)
}

func (s *Sender) once(ctx context.Context, client *http.Client, timeout time.Duration, method, url string,
	headers map[string]string, body []byte) (retry bool, problem string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return false, cleanError(err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if s.UserAgent != "" {
		req.Header.Set("User-Agent", s.UserAgent)
	}
	resp, err := client.Do(req)
	if err != nil {
		return true, cleanError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, ""
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500, "HTTP " + resp.Status
}
