package monitor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// metrics are the gauges of the textfile, in the order written.
var metrics = []struct{ name, help string }{
	{"cairn_job_last_success_timestamp_seconds", "When the job last succeeded (Unix time)."},
	{"cairn_job_last_run_timestamp_seconds", "When the job last ended, successfully or not (Unix time)."},
	{"cairn_job_duration_seconds", "How long the job's last run took."},
	{"cairn_job_bytes_added", "Bytes the job's last run added to the repository (after dedup and compression)."},
	{"cairn_job_files", "Files in the job's last snapshot (new, changed and unchanged)."},
	{"cairn_job_exit_code", "cairn's exit code for the job's last run (0 is success)."},
}

var sampleRe = regexp.MustCompile(`^(cairn_job_[a-z_]+)\{job="((?:[^"\\]|\\.)*)"\} (\S+)$`)

// WriteTextfile records r in the Prometheus textfile at path, keeping the
// other jobs' samples and, when r is a failure, the job's last success
// time. The file is replaced atomically under an flock on path+".lock".
func WriteTextfile(path string, r Report) error {
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	samples := map[string]map[string]string{} // metric -> job -> value
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(old))
	for sc.Scan() {
		m := sampleRe.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if samples[m[1]] == nil {
			samples[m[1]] = map[string]string{}
		}
		samples[m[1]][unescapeLabel(m[2])] = m[3]
	}
	set := func(name string, v float64) {
		if samples[name] == nil {
			samples[name] = map[string]string{}
		}
		samples[name][r.Job] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	end := float64(r.Time.UnixMilli()) / 1000
	if r.OK {
		set("cairn_job_last_success_timestamp_seconds", end)
	}
	set("cairn_job_last_run_timestamp_seconds", end)
	set("cairn_job_duration_seconds", r.Duration)
	set("cairn_job_bytes_added", float64(r.BytesAdded))
	set("cairn_job_files", float64(r.FilesNew+r.FilesChanged+r.FilesUnchanged))
	set("cairn_job_exit_code", float64(r.ExitCode))

	var b bytes.Buffer
	for _, m := range metrics {
		jobs := samples[m.name]
		if len(jobs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", m.name, m.help, m.name)
		names := make([]string, 0, len(jobs))
		for j := range jobs {
			names = append(names, j)
		}
		slices.Sort(names)
		for _, j := range names {
			fmt.Fprintf(&b, "%s{job=\"%s\"} %s\n", m.name, escapeLabel(j), jobs[j])
		}
	}
	return writeAtomic(path, b.Bytes())
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	// node_exporter runs as another user: the file must be readable.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func unescapeLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == 'n' {
				b.WriteByte('\n')
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
