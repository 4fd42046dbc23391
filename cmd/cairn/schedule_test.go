package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func scheduleConfig(t *testing.T, home string) string {
	return writeFile(t, home, "my cairn.yaml", `repositories:
  local: {url: /tmp/nowhere, password-command: echo x}
jobs:
  nightly:
    repository: local
    paths: [~/Documents]
    schedule: daily 02:30
  weekdays:
    repository: local
    paths: [~/Documents]
    schedule: {calendar: "Mon..Fri 22:00", randomized-delay: 0s}
  manual:
    repository: local
    paths: [~/Documents]
`)
}

// TestScheduleInstall: units go to $XDG_CONFIG_HOME/systemd/user and run
// this config file by its absolute path, through the systemctl on PATH (a
// stub here: the real user's systemd is never touched).
func TestScheduleInstall(t *testing.T) {
	home := isolate(t)
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte("#!/bin/sh\necho \"$@\" >> "+calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	cfg := scheduleConfig(t, home)
	t.Chdir(home)

	out := ok(t, "--config", "my cairn.yaml", "schedule", "install")
	unitDir := filepath.Join(home, ".config", "systemd", "user")
	if !strings.Contains(out, "job nightly: daily 02:30 (*-*-* 02:30)") || !strings.Contains(out, "job weekdays:") {
		t.Errorf("install said:\n%s", out)
	}
	svc, err := os.ReadFile(filepath.Join(unitDir, "cairn-nightly.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svc), `--config "`+cfg+`" run "nightly"`) {
		t.Errorf("service does not run the config by its absolute path:\n%s", svc)
	}
	timer, _ := os.ReadFile(filepath.Join(unitDir, "cairn-weekdays.timer"))
	if !strings.Contains(string(timer), "OnCalendar=Mon..Fri 22:00\n") || !strings.Contains(string(timer), "RandomizedDelaySec=0\n") {
		t.Errorf("timer:\n%s", timer)
	}
	if _, err := os.Stat(filepath.Join(unitDir, "cairn-manual.timer")); err == nil {
		t.Error("a job without a schedule got a timer")
	}
	fails(t, exitError, "job manual has no schedule", "--config", cfg, "schedule", "install", "manual")

	out = ok(t, "--config", cfg, "schedule", "list")
	if !strings.Contains(out, "nightly") || !strings.Contains(out, "installed") || strings.Contains(out, "manual") {
		t.Errorf("list:\n%s", out)
	}
	if out := ok(t, "--config", cfg, "schedule", "list", "weekdays"); strings.Contains(out, "nightly") || !strings.Contains(out, "weekdays") {
		t.Errorf("list weekdays:\n%s", out)
	}
	ok(t, "--config", cfg, "schedule", "remove", "nightly")
	if _, err := os.Stat(filepath.Join(unitDir, "cairn-nightly.timer")); err == nil {
		t.Error("remove left the timer")
	}
	b, _ := os.ReadFile(calls)
	for _, want := range []string{"--user enable --now cairn-nightly.timer", "--user enable --now cairn-weekdays.timer", "--user disable --now cairn-nightly.timer"} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("systemctl was not asked to %q:\n%s", want, b)
		}
	}
}

// TestScheduleWithoutSystemd prints crontab lines, and says which
// calendar cron cannot express.
func TestScheduleWithoutSystemd(t *testing.T) {
	home := isolate(t)
	cfg := scheduleConfig(t, home)
	t.Setenv("PATH", t.TempDir())
	r := cairn(t, "--config", cfg, "schedule", "install")
	if r.code != exitError || !strings.Contains(r.stdout, "30 2 * * * ") || !strings.Contains(r.stdout, "run nightly") ||
		!strings.Contains(r.stderr, "crontab -e") || !strings.Contains(r.stderr, `"Mon..Fri 22:00" has no simple cron form`) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(home, ".config", "systemd")); err == nil {
		t.Error("units were written without systemd")
	}
}
