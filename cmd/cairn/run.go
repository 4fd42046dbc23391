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
	dryRun bool
}

func newRunCommand(a *app) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run JOB",
		Short: "Run a backup job from the config file",
		Long: `Run the job JOB from the config file (jobs: in --config): back up its
paths into its repository, then, as configured, forget snapshots by its
keep policy, prune unreferenced data, and check the repository. The
steps run in that order, with a structural check before prune too (prune
does not run when it fails); the first step that fails stops the job, and
the summary says which steps ran.

The job's snapshots are those of its host with its set of paths and all
its tags; keep rules apply to them only. See config/example.yaml for every key.`,
		Example: `  cairn run nightly
  cairn --config ~/cairn.yaml run nightly --json
  cairn run nightly --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runJob(cmd.Context(), args[0], o)
		},
	}
	cmd.Flags().BoolVarP(&o.dryRun, "dry-run", "n", false, "back up without storing anything, and skip the other steps")
	return cmd
}

// stepResult is one step of a job in the run summary.
type stepResult struct {
	Step   string `json:"step"`   // backup, forget, prune or check
	Status string `json:"status"` // ok, failed, partial, skipped
	// Detail is a one-line description for people.
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
	// Data is the step's own result (backupSummary for backup).
	Data any `json:"data,omitempty"`
}

// runSummary is the --json summary line of cairn run.
type runSummary struct {
	MessageType     string       `json:"message_type"` // "summary"
	Job             string       `json:"job"`
	Repository      string       `json:"repository"`
	OK              bool         `json:"ok"`
	Steps           []stepResult `json:"steps"`
	DurationSeconds float64      `json:"duration_seconds"`
}

func (a *app) runJob(ctx context.Context, name string, o runOptions) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	job, ok := cfg.Jobs[name]
	if !ok {
		return unknownJobError(cfg, name)
	}
	spec, err := newJobSpec(name, job)
	if err != nil {
		return err
	}
	start := time.Now()
	r, s, done, err := a.openNamedRepository(ctx, job.Repository)
	if err != nil {
		return fmt.Errorf("job %s: %w", name, err)
	}
	defer done()
	sum := runSummary{MessageType: "summary", Job: name, Repository: s.location()}
	jobErr := a.runSteps(ctx, r, spec, o, &sum)
	sum.OK = jobErr == nil
	sum.DurationSeconds = time.Since(start).Seconds()
	if a.v.GetBool("json") {
		if err := writeJSON(a.stdout, sum); err != nil {
			return err
		}
	} else if !a.v.GetBool("quiet") {
		sum.print(a.stdout)
	}
	if jobErr != nil {
		return fmt.Errorf("job %s: %w", name, jobErr)
	}
	return nil
}

// runSteps runs the job's steps in order, recording each in sum, and
// returns the error that stopped the job (or the partial-backup error,
// reported after the other steps ran).
func (a *app) runSteps(ctx context.Context, r *repo.Repository, spec *jobSpec, o runOptions, sum *runSummary) error {
	backup := spec.backup
	backup.dryRun = o.dryRun
	res, bsum, err := a.backup(ctx, r, spec.paths, backup)
	if err != nil {
		sum.Steps = append(sum.Steps, stepResult{Step: "backup", Status: "failed", Error: oneLine(err.Error())})
		return err
	}
	partial := backupOutcome(res)
	step := stepResult{Step: "backup", Status: "ok", Data: bsum, Detail: bsum.oneLine()}
	if partial != nil {
		step.Status = "partial"
	}
	sum.Steps = append(sum.Steps, step)

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
