//go:build unix

package prune

import (
	"errors"
	"syscall"
)

// processAlive reports whether process pid exists, with kill(pid, 0): only
// "no such process" means it does not (a process of another user answers
// EPERM, and is alive).
func processAlive(pid int) bool {
	if pid <= 0 {
		return true // not a PID we can judge
	}
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
