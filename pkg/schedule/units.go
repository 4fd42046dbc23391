package schedule

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Job is what a timer runs.
type Job struct {
	Name       string // the job's name in the config
	ConfigPath string // absolute path of the config file
	Executable string // absolute path of cairn
	Spec       Spec
	System     bool // a system unit (root), not a user unit
}

var unitNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// UnitName is the base name of the job's units: cairn-JOB.
func UnitName(job string) (string, error) {
	if !unitNameRe.MatchString(job) || strings.HasPrefix(job, ".") {
		return "", fmt.Errorf("job name %q cannot name a systemd unit; use letters, digits, '.', '_' and '-' to schedule it", job)
	}
	return "cairn-" + job, nil
}

// Units returns the service and the timer unit files of the job.
func Units(j Job) (service, timer string, err error) {
	name, err := UnitName(j.Name)
	if err != nil {
		return "", "", err
	}
	if err := j.Spec.Validate(); err != nil {
		return "", "", fmt.Errorf("job %s: schedule: %w", j.Name, err)
	}
	exec := strings.Join([]string{quote(j.Executable), "--config", quote(j.ConfigPath), "run", quote(j.Name)}, " ")
	var svc strings.Builder
	fmt.Fprintf(&svc, `[Unit]
Description=cairn backup job %s
Documentation=https://github.com/cairn-backup/cairn
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=%s
# Backups yield to interactive work.
Nice=10
IOSchedulingClass=idle
`, escapeSpecifiers(j.Name), exec)
	var tm strings.Builder
	fmt.Fprintf(&tm, `[Unit]
Description=Run cairn backup job %s on schedule

[Timer]
OnCalendar=%s
Persistent=true
RandomizedDelaySec=%d
Unit=%s.service

[Install]
WantedBy=timers.target
`, escapeSpecifiers(j.Name), escapeSpecifiers(OnCalendar(j.Spec.Calendar)), int64(j.Spec.Delay()/time.Second), name)
	return svc.String(), tm.String(), nil
}

// quote quotes one word of ExecStart: double quotes, with backslash,
// quote, $ and % escaped as systemd.service(5) and systemd.unit(5)
// require, so that a path with spaces or a % stays one literal word.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `$$`, `%`, `%%`)
	return `"` + r.Replace(s) + `"`
}

func escapeSpecifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// CronLine is the crontab line that runs the job, or an error when its
// calendar has no cron form.
func CronLine(j Job) (string, error) {
	fields, err := Cron(j.Spec.Calendar)
	if err != nil {
		return "", fmt.Errorf("job %s: %w", j.Name, err)
	}
	return fmt.Sprintf("%s %s --config %s run %s", fields, shellQuote(j.Executable), shellQuote(j.ConfigPath), shellQuote(j.Name)), nil
}

// shellQuote quotes s for sh, and % for cron (which turns it into a
// newline).
func shellQuote(s string) string {
	if regexp.MustCompile(`^[A-Za-z0-9_./@:+=-]+$`).MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, "'", `'\''`), "%", `\%`) + "'"
}
