package schedule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNoSystemd reports that systemctl is not on PATH; use CronLine.
var ErrNoSystemd = errors.New("systemctl is not on PATH")

// Manager writes units and drives systemctl.
type Manager struct {
	// System selects system units in /etc/systemd/system (systemctl
	// without --user).
	System bool
	// Dir overrides the unit directory.
	Dir string
}

// UnitDir is where the units go: $XDG_CONFIG_HOME/systemd/user (or
// ~/.config/systemd/user), or /etc/systemd/system.
func (m Manager) UnitDir() (string, error) {
	if m.Dir != "" {
		return m.Dir, nil
	}
	if m.System {
		return "/etc/systemd/system", nil
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "systemd", "user"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the user unit directory: %w", err)
	}
	return filepath.Join(home, ".config", "systemd", "user"), nil
}

// HaveSystemd reports whether systemctl is on PATH.
func HaveSystemd() bool {
	_, err := exec.LookPath("systemctl")
	return err == nil
}

func (m Manager) systemctl(ctx context.Context, args ...string) (string, error) {
	path, err := exec.LookPath("systemctl")
	if err != nil {
		return "", ErrNoSystemd
	}
	if !m.System {
		args = append([]string{"--user"}, args...)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// CheckCalendar asks systemd-analyze, when it is on PATH, whether the
// calendar parses; without it, systemctl reports a bad one on enable.
func CheckCalendar(ctx context.Context, calendar string) error {
	path, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return nil
	}
	out, err := exec.CommandContext(ctx, path, "calendar", OnCalendar(calendar)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("schedule %q is not a systemd calendar (%s); see systemd.time(7), e.g. \"daily 02:30\", \"Mon..Fri 22:00\", \"*-*-* 04:00:00\"",
			calendar, strings.TrimSpace(string(out)))
	}
	return nil
}

// Install writes the job's units and enables and starts its timer. It
// returns the paths written.
func (m Manager) Install(ctx context.Context, j Job) ([]string, error) {
	if !HaveSystemd() {
		return nil, ErrNoSystemd
	}
	if err := CheckCalendar(ctx, j.Spec.Calendar); err != nil {
		return nil, err
	}
	service, timer, err := Units(j)
	if err != nil {
		return nil, err
	}
	dir, err := m.UnitDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	name, _ := UnitName(j.Name)
	var paths []string
	for _, u := range []struct{ ext, text string }{{".service", service}, {".timer", timer}} {
		p := filepath.Join(dir, name+u.ext)
		if err := os.WriteFile(p, []byte(u.text), 0o644); err != nil {
			return paths, fmt.Errorf("write %s: %w", p, err)
		}
		paths = append(paths, p)
	}
	if _, err := m.systemctl(ctx, "daemon-reload"); err != nil {
		return paths, err
	}
	if _, err := m.systemctl(ctx, "enable", "--now", name+".timer"); err != nil {
		return paths, err
	}
	return paths, nil
}

// Remove disables the job's timer and deletes its units. Units that are
// not there are not an error.
func (m Manager) Remove(ctx context.Context, job string) ([]string, error) {
	name, err := UnitName(job)
	if err != nil {
		return nil, err
	}
	dir, err := m.UnitDir()
	if err != nil {
		return nil, err
	}
	if HaveSystemd() {
		// A timer that was never enabled fails here; the files still go.
		_, _ = m.systemctl(ctx, "disable", "--now", name+".timer")
	}
	var removed []string
	for _, ext := range []string{".timer", ".service"} {
		p := filepath.Join(dir, name+ext)
		err := os.Remove(p)
		switch {
		case err == nil:
			removed = append(removed, p)
		case !errors.Is(err, os.ErrNotExist):
			return removed, fmt.Errorf("remove %s: %w", p, err)
		}
	}
	if HaveSystemd() && len(removed) > 0 {
		if _, err := m.systemctl(ctx, "daemon-reload"); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// Installed lists the jobs that have a timer file in the unit directory.
func (m Manager) Installed() ([]string, error) {
	dir, err := m.UnitDir()
	if err != nil {
		return nil, err
	}
	matches, err := filepath.Glob(filepath.Join(dir, "cairn-*.timer"))
	if err != nil {
		return nil, err
	}
	var jobs []string
	for _, p := range matches {
		jobs = append(jobs, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "cairn-"), ".timer"))
	}
	slices.Sort(jobs)
	return jobs, nil
}

// Timers returns systemctl's list-timers output for cairn's timers.
func (m Manager) Timers(ctx context.Context) (string, error) {
	return m.systemctl(ctx, "list-timers", "--all", "--no-pager", "cairn-*.timer")
}
