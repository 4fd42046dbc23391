package versitygw

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/e2e/miniotest"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
	startTries   = 3 // a free port can be taken between probing and binding
)

// Server is a running versitygw owned by one test (and its subtests).
type Server struct {
	// Endpoint is host:port of the S3 API, for example "127.0.0.1:41234".
	Endpoint string
	// AccessKey and SecretKey are the random root credentials.
	AccessKey string
	SecretKey string

	client *minio.Client
	log    *miniotest.LockedBuffer
}

// Start starts versitygw with the posix backend on a fresh temporary
// folder, random root credentials and a free loopback port, waits until it
// answers S3 requests, and stops it when tb finishes.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := miniotest.FindTool(tb, "versitygw", "CAIRN_VERSITYGW")
	var err error
	for range startTries {
		var s *Server
		if s, err = start(tb, bin); err == nil {
			return s
		}
	}
	tb.Fatalf("versitygw: %v", err)
	return nil
}

func start(tb testing.TB, bin string) (*Server, error) {
	addr, err := miniotest.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint:  addr,
		AccessKey: "cairn" + miniotest.RandomHex(tb, 6),
		SecretKey: miniotest.RandomHex(tb, 20),
		log:       &miniotest.LockedBuffer{},
	}
	cmd := exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey,
		"--port", addr, "--quiet", "posix", tb.TempDir())
	cmd.Env = os.Environ()
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status of a stopped server is of no interest
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	s.client, err = minio.New(addr, &minio.Options{
		Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("client for %s: %w", addr, err)
	}
	if err := s.waitReady(tb.Context(), exited); err != nil {
		stop()
		return nil, fmt.Errorf("versitygw on %s: %w\n--- versitygw output ---\n%s", addr, err, s.log.String())
	}
	tb.Cleanup(stop)
	return s, nil
}

// waitReady polls until a signed ListBuckets succeeds: the gateway then
// both listens and accepts the root credentials.
func (s *Server) waitReady(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		_, last = s.client.ListBuckets(attempt)
		cancelAttempt()
		if last == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("server exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v (last error: %v): %w", readyTimeout, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// URL returns the cairn repository location of bucket and prefix on this
// server, for example "s3+http://127.0.0.1:41234/bucket/prefix".
func (s *Server) URL(bucket, prefix string) string {
	u := "s3+http://" + s.Endpoint + "/" + bucket
	if prefix != "" {
		u += "/" + prefix
	}
	return u
}

// MakeBucket creates a bucket as the root user. Tests sharing a server
// should each use their own bucket.
func (s *Server) MakeBucket(tb testing.TB, name string) {
	tb.Helper()
	if err := s.client.MakeBucket(tb.Context(), name, minio.MakeBucketOptions{}); err != nil {
		tb.Fatalf("versitygw: make bucket %s: %v", name, err)
	}
}

// Log returns what the server printed so far, for diagnosing a failure.
func (s *Server) Log() string { return s.log.String() }
