package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	s, err := c.Compile("../../config/cairn.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// schemaErr validates YAML text against the schema.
func schemaErr(t *testing.T, s *jsonschema.Schema, text string) error {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("YAML to JSON: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

// TestSchemaAgreesWithParser: every example in config/ passes both the
// schema and the parser, and each broken file is refused by both.
func TestSchemaAgreesWithParser(t *testing.T) {
	s := compileSchema(t)
	files, err := filepath.Glob("../../config/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %q %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemaErr(t, s, string(b)); err != nil {
			t.Errorf("%s: the schema refuses it: %v", f, err)
		}
		if _, err := parseConfig(b, f); err != nil {
			t.Errorf("%s: the parser refuses it: %v", f, err)
		}
	}

	const base = "repositories:\n  r: {url: /tmp/r}\njobs:\n  j:\n    repository: r\n    paths: [/x]\n"
	for name, text := range map[string]string{
		"unknown top-level key":     "repositorys: {}\n",
		"unknown job key":           base + "    pathz: [/y]\n",
		"paths not a list":          "repositories:\n  r: {url: /tmp/r}\njobs:\n  j: {repository: r, paths: 5}\n",
		"no paths":                  "repositories:\n  r: {url: /tmp/r}\njobs:\n  j: {repository: r}\n",
		"repository without url":    "repositories:\n  r: {password-file: x}\n",
		"both password sources":     "repositories:\n  r: {url: /tmp/r, password-file: x, password-command: y}\n",
		"negative connections":      "connections: -1\n",
		"negative keep":             base + "    keep: {daily: -1}\n",
		"hook without command":      base + "    hooks: {before: {timeout: 5m}}\n",
		"hook with unknown key":     base + "    hooks: {before: {command: x, timout: 5m}}\n",
		"empty hook list":           base + "    hooks: {after: []}\n",
		"empty hook":                base + "    hooks: {after: ''}\n",
		"unknown hook":              base + "    hooks: {beforehand: x}\n",
		"retry without attempts":    base + "    retry: {wait: 5m}\n",
		"retry zero attempts":       base + "    retry: {attempts: 0}\n",
		"retry attempts not number": base + "    retry: {attempts: many}\n",
		"ping unknown key":          base + "    monitor: {ping: {urll: 'https://x/y'}}\n",
		"ping empty mapping":        base + "    monitor: {ping: {exit-code: true}}\n",
		"ping not http":             base + "    monitor: {ping: 'ftp://x/y'}\n",
		"webhook without url":       base + "    monitor: {webhooks: [{body: x}]}\n",
		"webhook bad event":         base + "    monitor: {webhooks: [{url: 'https://x', on: [always]}]}\n",
		"unknown monitor key":       base + "monitor: {pings: 'https://x'}\n",
		"schedule unknown key":      base + "    schedule: {when: daily}\n",
		"schedule empty":            base + "    schedule: ''\n",
		"schedule without calendar": base + "    schedule: {randomized-delay: 5m}\n",
		"empty group":               base + "groups: {g: []}\n",
		"group not a list":          base + "groups: {g: j}\n",
	} {
		if err := schemaErr(t, s, text); err == nil {
			t.Errorf("%s: the schema accepts it", name)
		}
		if _, err := parseConfig([]byte(text), "broken.yaml"); err == nil {
			t.Errorf("%s: the parser accepts it", name)
		}
	}
}

// TestConfigCheckPointsAtLines: config check reports every mistake with
// its line and key, including the ones only the parser's checks find.
func TestConfigCheckPointsAtLines(t *testing.T) {
	home := isolate(t)
	os.Unsetenv("CAIRN_TEST_UNSET")
	cfg := writeFile(t, home, "c.yaml", `repositories:
  r:
    url: /tmp/r
    env:
      AWS_ACCESS_KEY_ID: ${CAIRN_TEST_UNSET}
jobs:
  a:
    repository: nowhere
    paths: [/x]
  b:
    repository: r
    paths: [/x]
    retry: {attempts: 0}
  c:
    repository: r
    paths: [/x]
    monitor:
      ping: https://hc-ping.com/${CAIRN_TEST_UNSET}
groups:
  g: [a, ghost]
`)
	r := cairn(t, "config", "check", cfg)
	for _, want := range []string{
		cfg + ":5: repositories.r.env.AWS_ACCESS_KEY_ID: env AWS_ACCESS_KEY_ID refers to $CAIRN_TEST_UNSET, which is not set",
		cfg + ":8: jobs.a.repository: repository \"nowhere\" is not defined",
		cfg + ":13: jobs.b.retry: retry: attempts 0",
		cfg + ":17: jobs.c.monitor: monitor refers to $CAIRN_TEST_UNSET",
		cfg + ":20: groups.g: group \"g\" lists job \"ghost\"",
		"has 5 mistakes",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("config check lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.code != exitError {
		t.Errorf("exit %d", r.code)
	}
	typo := writeFile(t, home, "typo.yaml", "jobs:\n  a:\n    repository: r\n    pathz: [/x]\n    hooks: {before: {command: x, timout: 5m}}\n")
	r = cairn(t, "config", "check", typo)
	if r.code != exitError || !strings.Contains(r.stderr, typo+":4: unknown key \"pathz\"") || !strings.Contains(r.stderr, typo+":5: unknown key \"timout\"") {
		t.Errorf("second mistake not reported:\n%s", r.stderr)
	}
	several := writeFile(t, home, "several.yaml", "jobs:\n  a:\n    repository: r\n    paths: [/x]\n    hooks: {before: \"\"}\n    schedule: \"\"\n    pathz: 1\n")
	r = cairn(t, "config", "check", several)
	for _, want := range []string{several + ":5: the hook is empty", several + ":6: schedule is empty", several + ":7: unknown key \"pathz\"", "3 mistakes"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("config check lacks %q:\n%s", want, r.stderr)
		}
	}
	good := writeFile(t, home, "good.yaml", "repositories:\n  r: {url: /tmp/r}\njobs:\n  j: {repository: r, paths: [/x], schedule: daily 02:30}\n")
	if out := ok(t, "config", "check", good); !strings.Contains(out, "ok (1 repository, 1 job)") {
		t.Errorf("good file: %s", out)
	}
}

// TestConfigShowMasksSecrets: config show prints the effective settings
// without credentials, passphrases or monitor tokens.
func TestConfigShowMasksSecrets(t *testing.T) {
	home := isolate(t)
	t.Setenv("HC_TEST_UUID", "uuid-secret")
	cfg := writeFile(t, home, "c.yaml", `monitor:
  webhooks: [{url: 'https://hooks.slack.com/services/T0/B0/slack-secret', headers: {Authorization: 'Bearer header-secret'}}]
repositories:
  r:
    url: /tmp/r
    password-command: echo pass-secret
    env: {AWS_SECRET_ACCESS_KEY: key-secret}
jobs:
  j:
    repository: r
    paths: [/x]
    retry: {attempts: 3, wait: 5m}
    schedule: daily 02:30
    monitor: {ping: 'https://hc-ping.com/${HC_TEST_UUID}', prometheus-textfile: /tmp/cairn.prom}
`)
	out := ok(t, "--config", cfg, "config", "show", "j")
	if strings.Contains(out, "secret") {
		t.Fatalf("config show prints a secret:\n%s", out)
	}
	for _, want := range []string{"https://hooks.slack.com/***", "https://hc-ping.com/***", "attempts: 3", "wait: 5m0s",
		"calendar: daily 02:30", "randomized-delay: 5m0s", "password-command: echo ***", "AWS_SECRET_ACCESS_KEY: '***'", "/tmp/cairn.prom"} {
		if !strings.Contains(out, want) {
			t.Errorf("config show lacks %q:\n%s", want, out)
		}
	}
}
