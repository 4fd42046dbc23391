package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/cairn-backup/cairn/pkg/monitor"
)

// jobMonitors are the monitors of one job, global ones included, with
// ${VAR} expanded. A monitor whose variables are unset is dropped with a
// warning: it cannot be told, and that must not fail the backup.
func (a *app) jobMonitors(cfg *fileConfig, job *jobConfig, name string) []monitor.Config {
	var out []monitor.Config
	for _, m := range monitor.Merge(cfg.Monitor, job.Monitor) {
		e, err := m.Expand(os.LookupEnv)
		if err != nil {
			fmt.Fprintf(a.stderr, "cairn: warning: job %s: %v; that monitor is not told about this run\n", name, err)
			continue
		}
		out = append(out, e)
	}
	return out
}

func (a *app) monitorSender() *monitor.Sender {
	return &monitor.Sender{
		UserAgent: "cairn/" + programVersion(),
		Warn:      func(msg string) { fmt.Fprintf(a.stderr, "cairn: warning: %s\n", msg) },
	}
}

// report builds the monitor report of a finished run.
func newReport(event string, f *jobFacts, sum *runSummary, logTail string) monitor.Report {
	r := monitor.Report{Event: event, Job: f.job, Repository: f.repository, OK: f.err == nil, ExitCode: f.exitCode,
		SnapshotID: f.snapshotID, Duration: f.durationSeconds, LogTail: logTail, Time: time.Now()}
	if f.err != nil {
		r.Error = oneLine(f.err.Error())
	}
	if b := f.backup; b != nil {
		r.FilesNew, r.FilesChanged, r.FilesUnchanged = int64(b.FilesNew), int64(b.FilesChanged), int64(b.FilesUnchanged)
		r.BytesAdded = int64(b.BytesAdded)
	}
	if sum != nil {
		r.Summary, _ = json.Marshal(sum)
	} else {
		r.Summary, _ = json.Marshal(map[string]string{"message_type": "start", "job": f.job, "repository": f.repository})
	}
	return r
}

// sendReport tells the monitors, bounded by the sender's timeouts, and
// even when the run itself was interrupted (a monitor should hear that).
func (a *app) sendReport(ctx context.Context, monitors []monitor.Config, r monitor.Report) {
	if len(monitors) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	a.monitorSender().Send(ctx, monitors, r)
}
