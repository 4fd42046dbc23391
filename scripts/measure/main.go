// Command measure runs a command and prints one line of JSON with its wall
// time, CPU time (user+system) and peak RSS, for the benchmark scripts.
// It is a Go program rather than /usr/bin/time so the scripts work on any
// machine with Go, and so children's peak RSS is read the same way for
// cairn and restic.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: measure COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stderr, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	code := 0
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			fmt.Fprintln(os.Stderr, "measure:", err)
			os.Exit(2)
		}
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	out := map[string]any{"wall_s": wall.Seconds(), "exit": code}
	if ru != nil {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		out["cpu_s"] = cpu.Seconds()
		out["rss_mb"] = float64(ru.Maxrss) / 1024 // Linux reports KiB
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
