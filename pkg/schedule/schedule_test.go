package schedule

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCron(t *testing.T) {
	for in, want := range map[string]string{
		"daily":            "0 0 * * *",
		"hourly":           "0 * * * *",
		"weekly":           "0 0 * * 1",
		"daily 02:30":      "30 2 * * *",
		"Daily  2:05":      "5 2 * * *",
		"*-*-* 04:00:00":   "0 4 * * *",
		"*-*-* 23:59":      "59 23 * * *",
		"*:15":             "15 * * * *",
		"Mon..Fri 22:00":   "",
		"*-*-* 04:00:30":   "",
		"daily 25:00":      "",
		"*-*-01 00:00:00":  "",
		"2026-12-24 18:00": "",
	} {
		got, err := Cron(in)
		if want == "" {
			if err == nil || !strings.Contains(err.Error(), "no simple cron form") {
				t.Errorf("Cron(%q) = %q, %v; want an error", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("Cron(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestOnCalendar(t *testing.T) {
	for in, want := range map[string]string{"daily 02:30": "*-*-* 02:30", "daily": "daily", "Mon *-*-* 04:00": "Mon *-*-* 04:00"} {
		if got := OnCalendar(in); got != want {
			t.Errorf("OnCalendar(%q) = %q, want %q", in, got, want)
		}
	}
}

func testJob(t *testing.T) Job {
	dir := t.TempDir()
	exe := filepath.Join(dir, "bin dir", "cairn")
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return Job{Name: "nightly", ConfigPath: filepath.Join(dir, "my 100% config.yaml"), Executable: exe, Spec: Spec{Calendar: "daily 02:30"}}
}

// TestUnits: the generated units say what they should, and systemd's own
// checker accepts them where it is installed.
func TestUnits(t *testing.T) {
	j := testJob(t)
	svc, timer, err := Units(j)
	if err != nil {
		t.Fatal(err)
	}
	wantExec := `ExecStart="` + j.Executable + `" --config "` + strings.ReplaceAll(j.ConfigPath, "%", "%%") + `" run "nightly"`
	for _, want := range []string{wantExec + "\n", "Type=oneshot\n", "After=network-online.target\n"} {
		if !strings.Contains(svc, want) {
			t.Errorf("service lacks %q:\n%s", want, svc)
		}
	}
	for _, want := range []string{"OnCalendar=*-*-* 02:30\n", "Persistent=true\n", "RandomizedDelaySec=300\n", "Unit=cairn-nightly.service\n", "WantedBy=timers.target\n"} {
		if !strings.Contains(timer, want) {
			t.Errorf("timer lacks %q:\n%s", want, timer)
		}
	}
	for name, text := range map[string]string{"service": svc, "timer": timer} {
		units := parseUnit(t, text)
		if name == "service" && (units["Service"]["Type"] != "oneshot" || units["Service"]["ExecStart"] == "") {
			t.Errorf("service sections: %v", units)
		}
		if name == "timer" && (units["Timer"]["OnCalendar"] != "*-*-* 02:30" || units["Install"]["WantedBy"] != "timers.target") {
			t.Errorf("timer sections: %v", units)
		}
	}
	zero := time.Duration(0)
	j.Spec.RandomizedDelay = &zero
	if _, timer, _ := Units(j); !strings.Contains(timer, "RandomizedDelaySec=0\n") {
		t.Errorf("delay 0:\n%s", timer)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not on PATH: the units were checked by their text only")
		return
	}
	dir := t.TempDir()
	for name, text := range map[string]string{"cairn-nightly.service": svc, "cairn-nightly.timer": timer} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(analyze, "verify", filepath.Join(dir, "cairn-nightly.service"), filepath.Join(dir, "cairn-nightly.timer")).CombinedOutput()
	if err != nil || strings.Contains(string(out), "cairn-nightly") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	if out, err := exec.Command(analyze, "calendar", OnCalendar("daily 02:30")).CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze calendar: %v\n%s", err, out)
	}
}

func TestUnitNameRejectsOddNames(t *testing.T) {
	for _, bad := range []string{"a b", "../x", ".hidden", "jöb", ""} {
		if _, err := UnitName(bad); err == nil {
			t.Errorf("UnitName(%q) accepted", bad)
		}
	}
}

func TestCronLine(t *testing.T) {
	j := testJob(t)
	line, err := CronLine(j)
	if err != nil {
		t.Fatal(err)
	}
	want := "30 2 * * * '" + j.Executable + "' --config '" + strings.ReplaceAll(j.ConfigPath, "%", `\%`) + "' run nightly"
	if line != want {
		t.Errorf("CronLine:\n got %s\nwant %s", line, want)
	}
	j.Spec.Calendar = "Mon..Fri 22:00"
	if _, err := CronLine(j); err == nil {
		t.Error("a weekday calendar got a cron line")
	}
}

// stubSystemctl puts a systemctl on PATH that records its arguments.
func stubSystemctl(t *testing.T) (logPath string) {
	bin := t.TempDir()
	logPath = filepath.Join(bin, "calls")
	script := "#!/bin/sh\necho \"$@\" >> " + logPath + "\n"
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return logPath
}

func TestInstallRemove(t *testing.T) {
	calls := stubSystemctl(t)
	cfgHome := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfgHome)
	m := Manager{}
	j := testJob(t)
	paths, err := m.Install(t.Context(), j)
	if err != nil {
		t.Fatal(err)
	}
	unitDir := filepath.Join(cfgHome, "systemd", "user")
	if len(paths) != 2 || paths[0] != filepath.Join(unitDir, "cairn-nightly.service") || paths[1] != filepath.Join(unitDir, "cairn-nightly.timer") {
		t.Fatalf("paths %q", paths)
	}
	jobs, err := m.Installed()
	if err != nil || len(jobs) != 1 || jobs[0] != "nightly" {
		t.Fatalf("Installed %q %v", jobs, err)
	}
	removed, err := m.Remove(t.Context(), "nightly")
	if err != nil || len(removed) != 2 {
		t.Fatalf("Remove %q %v", removed, err)
	}
	if _, err := os.Stat(paths[1]); !os.IsNotExist(err) {
		t.Errorf("timer still there: %v", err)
	}
	b, _ := os.ReadFile(calls)
	want := "--user daemon-reload\n--user enable --now cairn-nightly.timer\n--user disable --now cairn-nightly.timer\n--user daemon-reload\n"
	if string(b) != want {
		t.Errorf("systemctl calls:\n%s\nwant:\n%s", b, want)
	}

	// A calendar systemd rejects is refused before anything is written.
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		j.Spec.Calendar = "every full moon"
		if _, err := m.Install(t.Context(), j); err == nil || !strings.Contains(err.Error(), "not a systemd calendar") {
			t.Errorf("bad calendar: %v", err)
		}
		if jobs, _ := m.Installed(); len(jobs) != 0 {
			t.Errorf("units written for a bad calendar: %q", jobs)
		}
	}
}

func TestNoSystemd(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := (Manager{Dir: t.TempDir()}).Install(t.Context(), testJob(t)); err != ErrNoSystemd {
		t.Fatalf("err %v", err)
	}
}

// parseUnit parses a unit file as systemd.syntax(7) describes it: every
// line empty, a comment, a [Section] or Key=Value inside a section.
func parseUnit(t *testing.T, text string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	section := ""
	for i, l := range strings.Split(text, "\n") {
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = l[1 : len(l)-1]
			out[section] = map[string]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || section == "" || k == "" || strings.ContainsAny(k, " \t") {
				t.Fatalf("line %d is not Key=Value in a section: %q", i+1, l)
			}
			out[section][k] = v
		}
	}
	return out
}
