package main

import (
	"context"
	"strconv"
	"time"

	"github.com/cairn-backup/cairn/pkg/hooks"
)

// jobFacts are what hooks and monitors are told about a run.
type jobFacts struct {
	job, repository string
	snapshotID      string
	exitCode        int
	err             error
	backup          *backupSummary
	durationSeconds float64
	start           time.Time
}

// hookEnv is the documented environment of a job's hooks. The
// repository is given by name only: its URL and credentials stay out.
func (f *jobFacts) hookEnv(phase string) []string {
	env := []string{
		"CAIRN_JOB=" + f.job,
		"CAIRN_REPOSITORY=" + f.repository,
		"CAIRN_HOOK=" + phase,
	}
	if phase == "before" {
		return env
	}
	env = append(env,
		"CAIRN_SNAPSHOT_ID="+f.snapshotID,
		"CAIRN_EXIT_CODE="+strconv.Itoa(f.exitCode),
		"CAIRN_SUCCESS="+strconv.FormatBool(f.err == nil),
		"CAIRN_DURATION_SECONDS="+strconv.FormatFloat(f.durationSeconds, 'f', 1, 64),
	)
	if f.err != nil {
		env = append(env, "CAIRN_ERROR="+oneLine(f.err.Error()))
	} else {
		env = append(env, "CAIRN_ERROR=")
	}
	var b backupSummary
	if f.backup != nil {
		b = *f.backup
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	return append(env,
		"CAIRN_FILES_NEW="+u(b.FilesNew),
		"CAIRN_FILES_CHANGED="+u(b.FilesChanged),
		"CAIRN_FILES_UNCHANGED="+u(b.FilesUnchanged),
		"CAIRN_BYTES_ADDED="+u(b.BytesAdded),
		"CAIRN_BYTES_STORED="+u(b.BytesStored),
	)
}

// runHooks runs the phase's hooks of the job and of the config file as a
// whole: the global one first for before, last for the others, so that
// the global hooks wrap the job's.
func (a *app) runHooks(ctx context.Context, phase string, global, job hookSet, f *jobFacts) error {
	pick := func(h hookSet) hooks.Command {
		switch phase {
		case "before":
			return h.Before
		case "after":
			return h.After
		case "on-failure":
			return h.OnFailure
		}
		return h.Finally
	}
	order := []struct {
		name string
		cmd  hooks.Command
	}{{"job " + phase, pick(job)}, {"global " + phase, pick(global)}}
	if phase == "before" {
		order[0], order[1] = order[1], order[0]
	}
	for _, h := range order {
		if h.cmd.IsZero() {
			continue
		}
		if err := hooks.Run(ctx, h.name, h.cmd, f.hookEnv(phase), a.stderr); err != nil {
			return err
		}
	}
	return nil
}
