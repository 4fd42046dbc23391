package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
	startTries   = 3 // a free port can be taken between probing and binding
)

// Server is a running MinIO server owned by one test (and its subtests).
type Server struct {
	// Endpoint is host:port of the S3 API, for example "127.0.0.1:41234".
	Endpoint string
	// RootUser and RootPassword are the random root credentials.
	RootUser     string
	RootPassword string

	client *minio.Client
	log    *LockedBuffer
}

// Start starts a MinIO server on free loopback ports with a fresh data
// folder and random root credentials, waits until it answers, and stops it
// when tb finishes. A missing minio binary skips the test (fails it when
// the CI environment variable is set); see the package documentation.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := FindTool(tb, "minio", "CAIRN_MINIO")
	var err error
	for range startTries {
		var s *Server
		if s, err = start(tb, bin); err == nil {
			return s
		}
	}
	tb.Fatalf("miniotest: %v", err)
	return nil
}

func start(tb testing.TB, bin string) (*Server, error) {
	addr, err := FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	consoleAddr, err := FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint:     addr,
		RootUser:     "cairn-" + RandomHex(tb, 6),
		RootPassword: RandomHex(tb, 20),
		log:          &LockedBuffer{},
	}
	cmd := exec.Command(bin, "server", "--address", addr, "--console-address", consoleAddr, tb.TempDir())
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.RootUser,
		"MINIO_ROOT_PASSWORD="+s.RootPassword,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
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
	if err := waitReady(tb.Context(), addr, exited); err != nil {
		stop()
		return nil, fmt.Errorf("minio on %s: %w\n--- minio output ---\n%s", addr, err, s.log.String())
	}
	tb.Cleanup(stop)

	s.client, err = minio.New(addr, &minio.Options{
		Creds: credentials.NewStaticV4(s.RootUser, s.RootPassword, ""),
	})
	if err != nil {
		tb.Fatalf("miniotest: client for %s: %v", addr, err)
	}
	return s, nil
}

// waitReady polls the liveness endpoint until it answers 200.
func waitReady(ctx context.Context, addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://" + addr + "/minio/health/live"
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("server exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", readyTimeout, ctx.Err())
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
		tb.Fatalf("miniotest: make bucket %s: %v", name, err)
	}
}

// Log returns what the server printed so far, for diagnosing a failure.
func (s *Server) Log() string { return s.log.String() }

// FreeLoopbackAddr returns a loopback address with a port that was free a
// moment ago.
func FreeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// RandomHex returns n random bytes in hex, for credentials of throwaway servers.
func RandomHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("miniotest: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// toolsBin returns the folder scripts/install-tools.sh installs into.
func toolsBin() string {
	root := os.Getenv("CAIRN_TOOLS")
	if root == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		root = filepath.Join(cache, "cairn-tools")
	}
	return filepath.Join(root, "bin")
}

// FindTool returns the path of a tool: envVar if set (which must then
// exist), else the tools cache. A missing tool fails the test under CI and
// skips it, loudly, elsewhere.
func FindTool(tb testing.TB, name, envVar string) string {
	tb.Helper()
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("miniotest: %s=%s: %v", envVar, p, err)
		}
		return p
	}
	p := filepath.Join(toolsBin(), name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found at %s; run `scripts/install-tools.sh %s` (or set %s)", name, p, name, envVar)
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s: %s (CI is set, so this is a failure, not a skip)", name, msg)
	}
	tb.Skipf("\n"+
		"**************************************************************\n"+
		"*** SKIPPING TEST THAT NEEDS %s\n"+
		"*** %s\n"+
		"**************************************************************", strings.ToUpper(name), msg)
	return ""
}

// LockedBuffer collects the server output, written by the process's
// copying goroutines and read by the test.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
