package monitor

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// Config is a monitor: section, per job or global (both apply).
type Config struct {
	// Ping is a dead man's switch: healthchecks.io style, or one URL per
	// event for other services.
	Ping *Ping `yaml:"ping,omitempty"`
	// Webhooks are POSTed the run summary.
	Webhooks []Webhook `yaml:"webhooks,omitempty"`
	// PrometheusTextfile is a file for node_exporter's textfile collector.
	PrometheusTextfile string `yaml:"prometheus-textfile,omitempty"`
}

// IsZero reports whether nothing is monitored.
func (c Config) IsZero() bool {
	return c.Ping == nil && len(c.Webhooks) == 0 && c.PrometheusTextfile == ""
}

// Ping is a dead man's switch. With URL (healthchecks.io and compatible
// servers) cairn POSTs URL/start when the job starts, URL on success and
// URL/fail (or URL/<exit code> with ExitCode) on failure, the failure's
// body being the tail of the log. Start, Success and Failure give other
// services (uptime-kuma push monitors, cronitor) one URL per event, each
// requested with GET; they override URL's for their event.
type Ping struct {
	URL      string `yaml:"url,omitempty"`
	ExitCode bool   `yaml:"exit-code,omitempty"`
	Start    string `yaml:"start,omitempty"`
	Success  string `yaml:"success,omitempty"`
	Failure  string `yaml:"failure,omitempty"`
}

// UnmarshalYAML accepts a URL or a mapping of Ping's keys.
func (p *Ping) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&p.URL)
	}
	if err := checkKeys(n, "monitor.Ping", "url", "exit-code", "start", "success", "failure"); err != nil {
		return err
	}
	type plain Ping
	return n.Decode((*plain)(p))
}

// Webhook POSTs to URL on the events in On (default success and
// failure). The body is the JSON summary, or Body: fixed text or a Go
// text/template executed with the Report (see Report's fields), for ntfy
// ("{{.Job}} failed: {{.Error}}") or Slack ({"text": "..."}).
type Webhook struct {
	URL     string            `yaml:"url"`
	On      []string          `yaml:"on,omitempty"`
	Headers map[string]string `yaml:"headers,omitempty"`
	Body    string            `yaml:"body,omitempty"`
}

// UnmarshalYAML decodes strictly (a nested Decode would forget the
// caller's KnownFields).
func (w *Webhook) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "monitor.Webhook", "url", "on", "headers", "body"); err != nil {
		return err
	}
	type plain Webhook
	return n.Decode((*plain)(w))
}

// Events names the events of a job, as On lists them.
var Events = []string{"start", "success", "failure"}

func (w Webhook) wants(event string) bool {
	if len(w.On) == 0 {
		return event != "start"
	}
	return slices.Contains(w.On, event)
}

// Validate checks URLs and templates, naming the key at fault.
func (c Config) Validate() error {
	if p := c.Ping; p != nil {
		if p.URL == "" && p.Start == "" && p.Success == "" && p.Failure == "" {
			return errors.New("ping: give url, or start, success and failure URLs")
		}
		for _, u := range []struct{ key, v string }{{"url", p.URL}, {"start", p.Start}, {"success", p.Success}, {"failure", p.Failure}} {
			if err := checkURL(u.v); err != nil {
				return fmt.Errorf("ping: %s: %w", u.key, err)
			}
		}
	}
	for i, w := range c.Webhooks {
		if w.URL == "" {
			return fmt.Errorf("webhooks[%d]: url is missing", i)
		}
		if err := checkURL(w.URL); err != nil {
			return fmt.Errorf("webhooks[%d]: url: %w", i, err)
		}
		for _, e := range w.On {
			if !slices.Contains(Events, e) {
				return fmt.Errorf("webhooks[%d]: on: %q is not one of %s", i, e, strings.Join(Events, ", "))
			}
		}
		if _, err := parseTemplate(w.Body); err != nil {
			return fmt.Errorf("webhooks[%d]: body: %w", i, err)
		}
		for k, v := range w.Headers {
			if _, err := parseTemplate(v); err != nil {
				return fmt.Errorf("webhooks[%d]: headers: %s: %w", i, k, err)
			}
		}
	}
	return nil
}

// checkURL accepts an empty string or an http(s) URL with a host. Its
// message never repeats the URL.
func checkURL(raw string) error {
	if raw == "" || strings.Contains(raw, "${") {
		return nil // expanded later, checked then
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%s is not an http:// or https:// URL", MaskURL(raw))
	}
	return nil
}

func parseTemplate(s string) (*template.Template, error) {
	return template.New("body").Option("missingkey=error").Parse(s)
}

// Merge returns the monitors of c and job together: the global ones and
// the job's both report.
func Merge(global, job Config) []Config {
	var out []Config
	for _, c := range []Config{global, job} {
		if !c.IsZero() {
			out = append(out, c)
		}
	}
	return out
}

// Expand replaces ${VAR} in URLs and header values from lookup (so that
// tokens can stay out of the file). An unset variable is an error naming
// it, never an empty token.
func (c Config) Expand(lookup func(string) (string, bool)) (Config, error) {
	var missing string
	exp := func(s string) string {
		return os.Expand(s, func(name string) string {
			v, ok := lookup(name)
			if !ok && missing == "" {
				missing = name
			}
			return v
		})
	}
	out := Config{PrometheusTextfile: exp(c.PrometheusTextfile)}
	if c.Ping != nil {
		p := *c.Ping
		p.URL, p.Start, p.Success, p.Failure = exp(p.URL), exp(p.Start), exp(p.Success), exp(p.Failure)
		out.Ping = &p
	}
	for _, w := range c.Webhooks {
		w.URL = exp(w.URL)
		h := make(map[string]string, len(w.Headers))
		for k, v := range w.Headers {
			h[k] = exp(v)
		}
		w.Headers = h
		out.Webhooks = append(out.Webhooks, w)
	}
	if missing != "" {
		return Config{}, fmt.Errorf("monitor refers to $%s, which is not set; export it or change the config", missing)
	}
	return out, out.Validate()
}

// Masked returns c with every URL masked and header values hidden, for
// printing.
func (c Config) Masked() Config {
	m := func(s string) string {
		if s == "" {
			return ""
		}
		return MaskURL(s)
	}
	out := Config{PrometheusTextfile: c.PrometheusTextfile}
	if c.Ping != nil {
		p := *c.Ping
		p.URL, p.Start, p.Success, p.Failure = m(p.URL), m(p.Start), m(p.Success), m(p.Failure)
		out.Ping = &p
	}
	for _, w := range c.Webhooks {
		w.URL = MaskURL(w.URL)
		h := make(map[string]string, len(w.Headers))
		for k := range w.Headers {
			h[k] = "***"
		}
		w.Headers = h
		out.Webhooks = append(out.Webhooks, w)
	}
	return out
}

// checkKeys reports the keys of mapping n not in allowed as the YAML
// decoder reports unknown fields, so that they come out with their line.
func checkKeys(n *yaml.Node, typ string, allowed ...string) error {
	if n.Kind != yaml.MappingNode {
		return nil // Decode reports the wrong kind
	}
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(allowed, k.Value) {
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, typ))
		}
	}
	if errs != nil {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}
