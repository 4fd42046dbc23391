// Command cairn is the command-line interface of cairn, a client-side
// encrypted backup tool for object storage. The CLI is thin: each command
// parses its flags and calls one library function (see STYLE.md).
//
// Exit codes (the only place they are decided is exitCode in errors.go):
//
//	0   success
//	1   error
//	3   partial backup: the snapshot was written, but some files could not be read
//	10  the repository does not exist
//	11  could not lock the repository or write a lease
//	12  wrong passphrase
//	13  storage unreachable: check could not read every object (it found no
//	    damage in what it read); run it again when the storage is reachable
//	130 interrupted (SIGINT or SIGTERM)
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
)

func main() {
	floor := heapFloor()
	defer runtime.KeepAlive(floor)
	// CAIRN_CPUPROFILE=FILE writes a CPU profile of the run, for
	// performance work (go tool pprof FILE); CAIRN_TRACE=FILE an execution
	// trace (go tool trace FILE), which shows where a run waits rather
	// than where it computes.
	runRecorded(os.Getenv("CAIRN_CPUPROFILE"), pprof.StartCPUProfile, pprof.StopCPUProfile)
	runRecorded(os.Getenv("CAIRN_TRACE"), trace.Start, trace.Stop)
	// CAIRN_MEMPROFILE=FILE writes an allocation profile at the end.
	if path := os.Getenv("CAIRN_MEMPROFILE"); path != "" {
		runtime.MemProfileRate = 64 << 10
		code := runMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		if f, err := os.Create(path); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			_ = f.Close()
		}
		os.Exit(code)
	}
	os.Exit(runMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// runRecorded runs cairn and exits when path is set and start can record
// into that file; it returns to the caller otherwise.
func runRecorded(path string, start func(io.Writer) error, stop func()) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil || start(f) != nil {
		return
	}
	code := runMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	_ = f.Close()
	os.Exit(code)
}

// heapFloor returns an allocation that is kept alive for the whole run and
// never touched. The runtime aims the heap at twice its live size and
// returns memory above that goal to the kernel in the background. A cairn
// run's live heap is small next to what it passes through, above all the
// 64 MiB that Argon2 needs for a moment at start: that memory went back
// to the kernel within a second, and the restore that followed faulted in
// fresh pages for its buffers. A first touch of a page is not free (on the
// 2-core development VM it costs about 15 microseconds, so 64 MiB cost
// 0.25 s of CPU). With this floor the heap goal is at least 128 MiB, so
// freed memory is kept and reused and the heap is collected less often:
// restoring the Go tree locally took 23,000-30,000 page faults instead of
// 35,000 and 10% less CPU, restoring the mixed set from MinIO 9% less
// CPU. The floor itself costs no RSS, since its pages are never touched
// (a large allocation from fresh heap memory is not zeroed).
func heapFloor() []byte { return make([]byte, 64<<20) }

// runMain runs cairn with a context that SIGINT and SIGTERM cancel, and
// returns the exit code. A second signal kills the process the usual way.
func runMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore default handling: a second Ctrl-C ends cairn at once
	}()
	return execute(ctx, args, stdin, stdout, stderr)
}

// execute builds the root command, runs it and turns the outcome into an
// exit code and at most one error line on stderr. It never panics: a panic
// is a bug, reported as one line that asks for a bug report.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "cairn: internal error: %v; this is a bug, please report it with the command you ran (set CAIRN_DEBUG=1 for details)\n", p)
			if os.Getenv("CAIRN_DEBUG") == "1" {
				stderr.Write(debug.Stack())
			}
			code = exitError
		}
	}()
	a := newApp(stdin, stdout, stderr)
	root := newRootCommand(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	code = exitCode(err, interrupted)
	if err != nil {
		fmt.Fprintln(stderr, errorLine(err, interrupted))
	}
	return code
}
