package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/repo"
)

type runOptions struct {
	dryRun   bool
	all      bool
	lockWait time.Duration
}

func newRunCommand(a *app) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [JOB|GROUP]...",
		Short: "Run backup jobs from the config file",
		Long: `Run the jobs from the config file (jobs: in --config): each named job, the
jobs of each named group (groups: in the config file), or with --all every
job. For each job: run its before hooks, back up its paths into its
repository, then, as configured, forget snapshots by its keep policy,
prune unreferenced data, and check the repository; then its after (or
on-failure) and finally hooks. The steps run in that order, with a
structural check before prune too (prune does not run when it fails); the
first step that fails stops the job, and the summary says which steps ran.
A failing before hook skips the job and fails it.

Monitors (monitor: pings, webhooks, a Prometheus textfile) are told when
each job starts and how it ended; one that cannot be reached is a warning,
never a failed job. A job with retry: runs again after a transient failure
(storage unreachable, lease conflict, network error) that saved no
snapshot; a wrong passphrase, a missing repository or a config mistake is
never retried.

Two runs of the same job never overlap: each job takes a lock file in
$XDG_STATE_HOME/cairn/locks; a run that finds it taken fails at once, or
waits up to --lock-wait. Jobs run one after another; the exit code is the
worst of theirs.

The job's snapshots are those of its host with its set of paths and all
its tags; keep rules apply to them only. cairn config example prints every key.`,
		Example: `  cairn run nightly
  cairn run --all
  cairn run offsite            # a group: every job it lists
  cairn --config ~/cairn.yaml run nightly --json --lock-wait 10m
  cairn run nightly --dry-run`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runJobs(cmd.Context(), args, o)
		},
	}
	cmd.Flags().BoolVarP(&o.dryRun, "dry-run", "n", false, "back up without storing anything, and skip the other steps and the hooks")
	cmd.Flags().BoolVar(&o.all, "all", false, "run every job in the config file")
	cmd.Flags().DurationVar(&o.lockWait, "lock-wait", 0, "wait this long for a running run of the same job to end (default: fail at once)")
	return cmd
}

// stepResult is one step of a job in the run summary.
type stepResult struct {
	Step   string `json:"step"`   // before, backup, forget, prune, check, after
	Status string `json:"status"` // ok, failed, partial, skipped
	// Detail is a one-line description for people.
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
	// Data is the step's own result (backupSummary for backup).
	Data any `json:"data,omitempty"`
}

// runSummary is the --json summary line of cairn run for one job.
type runSummary struct {
	MessageType     string       `json:"message_type"` // "summary"
	Job             string       `json:"job"`
	Repository      string       `json:"repository"`
	OK              bool         `json:"ok"`
	ExitCode        int          `json:"exit_code"`
	Attempts        int          `json:"attempts,omitempty"`
	Steps           []stepResult `json:"steps"`
	DurationSeconds float64      `json:"duration_seconds"`
}

func (a *app) runJobs(ctx context.Context, args []string, o runOptions) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	names, err := selectJobs(cfg, args, o.all)
	if err != nil {
		return err
	}
	var sums []runSummary
	var errs []error
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		sum, err := a.runOne(ctx, cfg, name, o)
		sums = append(sums, sum)
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s: %w", name, err))
		}
		if !a.v.GetBool("json") && !a.v.GetBool("quiet") {
			sum.print(a.stdout)
		}
	}
	if len(sums) == 0 {
		return ctx.Err()
	}
	if a.v.GetBool("json") {
		var out any = sums[0]
		if len(args) != 1 || o.all || len(names) != 1 {
			all := runsSummary{MessageType: "summary", OK: len(errs) == 0, Jobs: sums}
			for _, s := range sums {
				all.ExitCode = worseExit(all.ExitCode, s.ExitCode)
			}
			out = all
		}
		if err := writeJSON(a.stdout, out); err != nil {
			return err
		}
	} else if len(names) > 1 && !a.v.GetBool("quiet") {
		printRunsLine(a.stdout, sums)
	}
	return jobsError(errs)
}

// runOne runs one job with its lock, hooks, retries and monitors.
func (a *app) runOne(ctx context.Context, cfg *fileConfig, name string, o runOptions) (runSummary, error) {
	job := cfg.Jobs[name]
	start := time.Now()
	sum := runSummary{MessageType: "summary", Job: name, Repository: job.Repository}
	facts := &jobFacts{job: name, repository: job.Repository, start: start}
	// The monitors get the tail of what this job logged. On a terminal
	// stderr stays as it is, so that the progress line still draws: the
	// person watching has the log.
	tail := &tailWriter{max: 64 << 10}
	if orig := a.stderr; !isTerminal(orig) {
		a.stderr = io.MultiWriter(orig, tail)
		defer func() { a.stderr = orig }()
	}

	monitors := a.jobMonitors(cfg, job, name)
	if o.dryRun {
		monitors = nil
	}
	a.sendReport(ctx, monitors, newReport("start", facts, nil, ""))
	err := a.runLocked(ctx, cfg, name, job, o, &sum, facts)
	sum.OK = err == nil
	sum.ExitCode = exitCode(err, ctx.Err() != nil)
	sum.DurationSeconds = time.Since(start).Seconds()
	facts.err, facts.exitCode, facts.durationSeconds = err, sum.ExitCode, sum.DurationSeconds
	event := "success"
	if err != nil {
		event = "failure"
	}
	a.sendReport(ctx, monitors, newReport(event, facts, &sum, tail.String()))
	return sum, err
}

// runLocked takes the job's lock and runs its hooks and steps.
func (a *app) runLocked(ctx context.Context, cfg *fileConfig, name string, job *jobConfig, o runOptions, sum *runSummary, facts *jobFacts) error {
	release, err := lockJob(ctx, name, o.lockWait)
	if err != nil {
		sum.Steps = append(sum.Steps, stepResult{Step: "lock", Status: "failed", Error: oneLine(err.Error())})
		return err
	}
	defer release()
	global, own := cfg.Hooks, job.Hooks
	if o.dryRun {
		global, own = hookSet{}, hookSet{}
	}
	err = a.runHooks(ctx, "before", global, own, facts)
	if err != nil {
		sum.Steps = append(sum.Steps, stepResult{Step: "before", Status: "failed", Error: oneLine(err.Error())},
			stepResult{Step: "backup", Status: "skipped", Detail: "the before hook failed"})
	} else {
		if !global.Before.IsZero() || !own.Before.IsZero() {
			sum.Steps = append(sum.Steps, stepResult{Step: "before", Status: "ok"})
		}
		err = a.runAttempts(ctx, name, job, o, sum, facts)
		if err == nil && (!global.After.IsZero() || !own.After.IsZero()) {
			facts.durationSeconds = time.Since(facts.start).Seconds()
			if err = a.runHooks(ctx, "after", global, own, facts); err != nil {
				sum.Steps = append(sum.Steps, stepResult{Step: "after", Status: "failed", Error: oneLine(err.Error())})
			} else {
				sum.Steps = append(sum.Steps, stepResult{Step: "after", Status: "ok"})
			}
		}
	}
	facts.err, facts.exitCode = err, exitCode(err, ctx.Err() != nil)
	facts.durationSeconds = time.Since(facts.start).Seconds()
	// on-failure and finally run after an interruption too (to remove a
	// dump, say), bounded then by cleanupAfterInterrupt.
	cleanupCtx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	if ctx.Err() != nil {
		cleanupCtx, cancel = context.WithTimeout(cleanupCtx, cleanupAfterInterrupt)
	}
	defer cancel()
	if err != nil {
		// A failing failure hook is worth a warning, not a different error.
		if herr := a.runHooks(cleanupCtx, "on-failure", global, own, facts); herr != nil {
			fmt.Fprintf(a.stderr, "cairn: warning: %s\n", oneLine(herr.Error()))
		}
	}
	if herr := a.runHooks(cleanupCtx, "finally", global, own, facts); herr != nil {
		fmt.Fprintf(a.stderr, "cairn: warning: %s\n", oneLine(herr.Error()))
	}
	return err
}

// cleanupAfterInterrupt bounds the on-failure and finally hooks of an
// interrupted job.
const cleanupAfterInterrupt = time.Minute

// runSteps runs the job's steps in order, recording each in sum, and
// returns the error that stopped the job (or the partial-backup error,
// reported after the other steps ran).
func (a *app) runSteps(ctx context.Context, r *repo.Repository, spec *jobSpec, o runOptions, sum *runSummary, facts *jobFacts) error {
	backup := spec.backup
	backup.dryRun = o.dryRun
	paths := spec.paths
	if spec.job.StdinCommand != "" {
		// The job backs up a command's output (backup --stdin-from-command):
		// a failing command fails the job without a snapshot.
		backup.sources.stdinFromCommand = true
		backup.sources.stdinFilename = spec.job.StdinFilename
		paths = []string{"/bin/sh", "-c", spec.job.StdinCommand}
	}
	res, bsum, err := a.backup(ctx, r, paths, backup)
	if err != nil {
		sum.Steps = append(sum.Steps, stepResult{Step: "backup", Status: "failed", Error: oneLine(err.Error())})
		return err
	}
	facts.backup, facts.snapshotID = &bsum, bsum.SnapshotID
	partial := backupOutcome(res)
	step := stepResult{Step: "backup", Status: "ok", Data: bsum, Detail: bsum.oneLine()}
	if partial != nil {
		step.Status = "partial"
	}
	sum.Steps = append(sum.Steps, step)

	if len(spec.job.CopyTo) > 0 && !o.dryRun && bsum.SnapshotID != "" {
		for _, dest := range spec.job.CopyTo {
			detail, data, err := a.copyToStep(ctx, r, dest, bsum.SnapshotID)
			if err != nil {
				sum.Steps = append(sum.Steps, stepResult{Step: "copy", Status: "failed", Error: oneLine(err.Error()), Data: data})
				return err
			}
			sum.Steps = append(sum.Steps, stepResult{Step: "copy", Status: "ok", Detail: detail, Data: data})
		}
	}
	steps := a.jobSteps()
	for _, st := range spec.maintenance() {
		if o.dryRun {
			sum.Steps = append(sum.Steps, stepResult{Step: st.name, Status: "skipped", Detail: "dry run"})
			continue
		}
		fn := steps[st.name]
		if fn == nil {
			err := fmt.Errorf("the job asks for %s, but this build of cairn has no %s command yet; "+
				"remove %s from the job or upgrade cairn", st.name, st.name, st.key)
			sum.Steps = append(sum.Steps, stepResult{Step: st.name, Status: "failed", Error: err.Error()})
			return err
		}
		if st.name == "prune" {
			// Check first: prune decides what to delete from the index and
			// the packs, and must not when they disagree.
			detail, data, err := a.precheckStep(ctx, r)
			if err != nil {
				sum.Steps = append(sum.Steps, stepResult{Step: "check", Status: "failed", Error: oneLine(err.Error()), Data: data},
					stepResult{Step: "prune", Status: "skipped", Detail: "the check before it failed"})
				return err
			}
			sum.Steps = append(sum.Steps, stepResult{Step: "check", Status: "ok", Detail: detail, Data: data})
		}
		detail, data, err := fn(ctx, r, spec)
		if err != nil {
			sum.Steps = append(sum.Steps, stepResult{Step: st.name, Status: "failed", Error: oneLine(err.Error())})
			return err
		}
		sum.Steps = append(sum.Steps, stepResult{Step: st.name, Status: "ok", Detail: detail, Data: data})
	}
	return partial
}

func (s runSummary) print(w io.Writer) {
	for _, st := range s.Steps {
		line := fmt.Sprintf("%-7s %s", st.Step, st.Status)
		if st.Detail != "" {
			line += ": " + st.Detail
		}
		if st.Error != "" {
			line += ": " + st.Error
		}
		fmt.Fprintln(w, line)
	}
	result := "done"
	if !s.OK {
		result = "FAILED"
	}
	fmt.Fprintf(w, "job %s %s in %s\n", s.Job, result, formatDuration(time.Duration(s.DurationSeconds*float64(time.Second))))
}

func (s backupSummary) oneLine() string {
	id := "dry run"
	if s.SnapshotID != "" {
		id = "snapshot " + s.SnapshotID[:8]
	}
	return fmt.Sprintf("%s; %d new, %d changed, %d unchanged files; %s added",
		id, s.FilesNew, s.FilesChanged, s.FilesUnchanged, formatBytes(s.BytesAdded))
}

func unknownJobError(cfg *fileConfig, name string) error {
	if len(cfg.Jobs) == 0 {
		where := cfg.path
		if where == "" {
			where = "no config file was found (use --config or CAIRN_CONFIG)"
		}
		return fmt.Errorf("job %q: no jobs are configured; %s", name, where)
	}
	return fmt.Errorf("job %q is not in %s; configured jobs: %s", name, cfg.path, strings.Join(sortedKeys(cfg.Jobs), ", "))
}

// jobSpec is a job ready to run: paths expanded, options converted.
type jobSpec struct {
	name   string
	job    *jobConfig
	host   string
	paths  []string
	backup backupOptions
}

func newJobSpec(name string, job *jobConfig) (*jobSpec, error) {
	spec := &jobSpec{name: name, job: job, host: job.Host}
	if spec.host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("job %s: host name (set host: in the job): %w", name, err)
		}
		spec.host = h
	}
	for _, p := range job.Paths {
		abs, err := expandHome(p)
		if err == nil {
			abs, err = filepath.Abs(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", name, err)
		}
		spec.paths = append(spec.paths, abs)
	}
	spec.backup = backupOptions{
		tags:   job.Tags,
		host:   spec.host,
		verify: job.VerifyDedup,
		atime:  job.WithATime,
		excludes: excludeOptions{
			patterns:      job.Exclude,
			files:         job.ExcludeFile,
			ifPresent:     job.ExcludeIfPresent,
			caches:        job.ExcludeCaches,
			largerThan:    job.ExcludeLarger,
			oneFileSystem: job.OneFileSystem,
		},
	}
	return spec, nil
}

// maintenanceStep names a step after the backup and the job key asking
// for it.
type maintenanceStep struct{ name, key string }

// maintenance lists the steps the job asks for, in the order they run.
func (s *jobSpec) maintenance() []maintenanceStep {
	var steps []maintenanceStep
	if !s.job.Keep.empty() {
		steps = append(steps, maintenanceStep{"forget", "keep"})
	}
	if s.job.Prune {
		steps = append(steps, maintenanceStep{"prune", "prune"})
	}
	if s.job.Check != nil {
		steps = append(steps, maintenanceStep{"check", "check"})
	}
	return steps
}
