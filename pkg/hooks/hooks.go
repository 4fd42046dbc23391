package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultTimeout bounds a hook that sets no timeout: long enough for a
// database dump, short enough that a hung hook does not block every later
// night's run behind the job lock.
const DefaultTimeout = 30 * time.Minute

// waitDelay is how long Run waits for the output pipes to close after the
// hook's process ended or was killed (a background child may hold them).
const waitDelay = 5 * time.Second

// Command is one hook. Exactly one of Shell and Args is set.
type Command struct {
	// Shell is run through sh -c.
	Shell string
	// Args is run directly: Args[0] is looked up on PATH.
	Args []string
	// Timeout is how long the hook may run; 0 means DefaultTimeout.
	Timeout time.Duration
}

// IsZero reports whether no command is set.
func (c Command) IsZero() bool { return c.Shell == "" && len(c.Args) == 0 }

// String is the command as written, for messages.
func (c Command) String() string {
	if c.Shell != "" {
		return c.Shell
	}
	return strings.Join(c.Args, " ")
}

// UnmarshalYAML accepts a string (shell), a list of strings (arguments),
// or a mapping {command: string or list, timeout: duration}.
func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		if strings.TrimSpace(s) == "" {
			return lineError("line %d: the hook is empty", n.Line)
		}
		*c = Command{Shell: s}
		return nil
	case yaml.SequenceNode:
		var args []string
		if err := n.Decode(&args); err != nil {
			return err
		}
		if len(args) == 0 || args[0] == "" {
			return lineError("line %d: the hook's argument list is empty", n.Line)
		}
		*c = Command{Args: args}
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Value != "command" && k.Value != "timeout" {
				// As the decoder words it, so that it is reported with its line.
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: field %s not found in type hooks.Command", k.Line, k.Value)}}
			}
		}
		var m struct {
			Command yaml.Node `yaml:"command"`
			Timeout string    `yaml:"timeout"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		if m.Command.Kind == 0 {
			return lineError("line %d: the hook has no command", n.Line)
		}
		if m.Command.Kind == yaml.MappingNode {
			return lineError("line %d: command must be a string or a list of arguments", m.Command.Line)
		}
		var inner Command
		if err := inner.UnmarshalYAML(&m.Command); err != nil {
			return err
		}
		if m.Timeout != "" {
			d, err := time.ParseDuration(m.Timeout)
			if err != nil || d <= 0 {
				return lineError("line %d: timeout %q is not a duration such as 90s or 10m", n.Line, m.Timeout)
			}
			inner.Timeout = d
		}
		*c = inner
		return nil
	}
	return lineError("line %d: a hook is a command string, a list of arguments, or {command, timeout}", n.Line)
}

// MarshalYAML writes the hook back in its long form.
func (c Command) MarshalYAML() (any, error) {
	m := map[string]any{"timeout": c.timeout().String()}
	if c.Shell != "" {
		m["command"] = c.Shell
	} else {
		m["command"] = c.Args
	}
	return m, nil
}

func (c Command) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// ErrTimeout marks a hook stopped by its timeout.
var ErrTimeout = errors.New("hook timed out")

// Run runs the hook named name (before, after, ...) with the extra
// environment env ("KEY=value"), copying its output to log. It returns an
// error when the hook cannot start, exits non-zero, or times out (wrapping
// ErrTimeout); its process group is killed on timeout and cancellation.
func Run(ctx context.Context, name string, c Command, env []string, log io.Writer) error {
	if c.IsZero() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	var cmd *exec.Cmd
	if c.Shell != "" {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", c.Shell)
	} else {
		cmd = exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	}
	cmd.Env = append(baseEnv(os.Environ()), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The negative pid is the process group: the shell and all it started.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
	out := &prefixWriter{w: log, prefix: "cairn: hook " + name + ": "}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Stdin = nil
	err := cmd.Run()
	out.flush()
	switch {
	case err == nil:
		return nil
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("hook %s (%s): %w after %s; its processes were killed (raise its timeout if it needs longer)",
			name, c, ErrTimeout, c.timeout())
	case ctx.Err() != nil:
		return fmt.Errorf("hook %s (%s): %w", name, c, ctx.Err())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("hook %s (%s) failed: %s (its output is above)", name, c, exit.ProcessState)
	}
	return fmt.Errorf("hook %s (%s): %w", name, c, err)
}

// baseEnv drops from cairn's environment what a hook must not inherit:
// the passphrase, and the variables Run sets itself.
func baseEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if k == "CAIRN_PASSWORD" || k == "CAIRN_REPOSITORY" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// prefixWriter writes each complete line to w with prefix before it. It is
// shared by stdout and stderr, which exec copies from two goroutines.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

// maxLine bounds a line kept while waiting for its newline.
const maxLine = 64 << 10

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			if len(p.buf) > maxLine {
				i = len(p.buf) - 1
			} else {
				break
			}
		}
		p.emit(p.buf[:i+1])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) emit(line []byte) {
	line = bytes.TrimRight(line, "\r\n")
	fmt.Fprintf(p.w, "%s%s\n", p.prefix, line)
}

func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.emit(p.buf)
		p.buf = nil
	}
}

// lineError reports a mistake as the YAML decoder reports a wrong type,
// so that decoding goes on and every mistake of the file is listed.
func lineError(format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf(format, args...)}}
}
