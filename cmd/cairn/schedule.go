package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/schedule"
)

func newScheduleCommand(a *app) *cobra.Command {
	var system bool
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Install, remove or list the timers that run jobs on their schedule",
		Long: `Install, remove or list systemd timers that run jobs from the config file
on their schedule: (a systemd calendar such as "daily 02:30", "Mon..Fri
22:00" or "*-*-* 04:00:00"; see systemd.time(7)). Each job gets a service,
cairn-JOB.service, running "cairn --config FILE run JOB" with the config
file's absolute path, and a timer, cairn-JOB.timer, with Persistent=true
(a run missed while the machine was off happens when it is back) and a
randomized delay (randomized-delay, default 5m).

User units go to $XDG_CONFIG_HOME/systemd/user (run "loginctl
enable-linger" for timers that run while you are logged out); --system
writes /etc/systemd/system instead. Where systemctl is absent, install
prints a crontab line for each job instead.`,
		Example: `  cairn schedule install            # every job with a schedule
  cairn schedule install nightly
  sudo cairn --config /etc/cairn/config.yaml schedule install --system
  cairn schedule list
  cairn schedule remove nightly`,
	}
	cmd.PersistentFlags().BoolVar(&system, "system", false, "system units in /etc/systemd/system (as root) instead of user units")
	cmd.AddCommand(
		&cobra.Command{
			Use:   "install [JOB]...",
			Short: "Write and enable the timers of the jobs (default: every job with a schedule)",
			Example: `  cairn schedule install
  cairn --config /etc/cairn/config.yaml schedule install --system nightly`,
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.scheduleInstall(cmd, args, schedule.Manager{System: system})
			},
		},
		&cobra.Command{
			Use:   "remove [JOB]...",
			Short: "Disable and delete the timers of the jobs (default: every cairn timer installed)",
			Example: `  cairn schedule remove nightly
  cairn schedule remove`,
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.scheduleRemove(cmd, args, schedule.Manager{System: system})
			},
		},
		&cobra.Command{
			Use:   "list [JOB]...",
			Short: "List the jobs' schedules and the timers installed",
			Example: `  cairn schedule list
  cairn schedule list --system`,
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.scheduleList(cmd, args, schedule.Manager{System: system})
			},
		},
	)
	return cmd
}

// scheduledJobs returns the schedule.Job of each named job (default:
// every job with a schedule).
func (a *app) scheduledJobs(names []string, system bool) ([]schedule.Job, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	path, _ := a.configPath()
	if cfg.path == "" || path == "" {
		return nil, errors.New("schedule: no config file was found; give --config FILE (the timers run cairn with it)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return nil, fmt.Errorf("schedule: find the cairn executable: %w", err)
	}
	if len(names) == 0 {
		for _, n := range sortedKeys(cfg.Jobs) {
			if !cfg.Jobs[n].Schedule.IsZero() {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("schedule: no job in %s has a schedule: (add one, e.g. schedule: \"daily 02:30\")", cfg.path)
		}
	}
	var jobs []schedule.Job
	for _, n := range names {
		job, ok := cfg.Jobs[n]
		if !ok {
			return nil, unknownJobError(cfg, n)
		}
		if job.Schedule.IsZero() {
			return nil, fmt.Errorf("schedule: job %s has no schedule: in %s; add one, e.g. schedule: \"daily 02:30\"", n, cfg.path)
		}
		jobs = append(jobs, schedule.Job{Name: n, ConfigPath: abs, Executable: exe, Spec: job.Schedule, System: system})
	}
	return jobs, nil
}

func (a *app) scheduleInstall(cmd *cobra.Command, names []string, m schedule.Manager) error {
	jobs, err := a.scheduledJobs(names, m.System)
	if err != nil {
		return err
	}
	if !schedule.HaveSystemd() {
		fmt.Fprintln(a.stderr, "cairn: systemctl is not on PATH; add these lines with crontab -e (cron does not catch up on missed runs):")
		var errs []error
		for _, j := range jobs {
			line, err := schedule.CronLine(j)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintln(a.stdout, line)
		}
		return errors.Join(errs...)
	}
	for _, j := range jobs {
		paths, err := m.Install(cmd.Context(), j)
		if err != nil {
			return fmt.Errorf("schedule job %s: %w", j.Name, err)
		}
		if !a.v.GetBool("quiet") {
			fmt.Fprintf(a.stdout, "job %s: %s (%s), wrote %s and %s\n", j.Name, j.Spec.Calendar,
				schedule.OnCalendar(j.Spec.Calendar), paths[0], paths[1])
		}
	}
	return nil
}

func (a *app) scheduleRemove(cmd *cobra.Command, names []string, m schedule.Manager) error {
	if len(names) == 0 {
		installed, err := m.Installed()
		if err != nil {
			return err
		}
		names = installed
	}
	for _, n := range names {
		removed, err := m.Remove(cmd.Context(), n)
		if err != nil {
			return fmt.Errorf("unschedule job %s: %w", n, err)
		}
		if len(removed) == 0 {
			fmt.Fprintf(a.stderr, "cairn: job %s has no timer installed\n", n)
			continue
		}
		if !a.v.GetBool("quiet") {
			fmt.Fprintf(a.stdout, "job %s: removed %s\n", n, removed)
		}
	}
	return nil
}

func (a *app) scheduleList(cmd *cobra.Command, only []string, m schedule.Manager) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	installed, err := m.Installed()
	if err != nil {
		return err
	}
	for _, n := range only {
		if _, ok := cfg.Jobs[n]; !ok && !slices.Contains(installed, n) {
			return unknownJobError(cfg, n)
		}
	}
	for _, n := range sortedKeys(cfg.Jobs) {
		s := cfg.Jobs[n].Schedule
		if (s.IsZero() && !slices.Contains(installed, n)) || (len(only) > 0 && !slices.Contains(only, n)) {
			continue
		}
		state := "not installed"
		if slices.Contains(installed, n) {
			state = "installed"
		}
		cal := s.Calendar
		if cal == "" {
			cal = "(no schedule in the config any more; cairn schedule remove " + n + ")"
		}
		fmt.Fprintf(a.stdout, "%-16s %-24s %s\n", n, cal, state)
	}
	if schedule.HaveSystemd() && len(installed) > 0 {
		out, err := m.Timers(cmd.Context())
		if err != nil {
			fmt.Fprintf(a.stderr, "cairn: warning: %v\n", err)
		} else {
			fmt.Fprint(a.stdout, "\n"+out)
		}
	}
	return nil
}
