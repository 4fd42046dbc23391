package s3

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-backup/cairn/pkg/storage"
)

func TestWithEnvDefaults(t *testing.T) {
	env := map[string]string{
		"AWS_ACCESS_KEY_ID":     "env-key",
		"AWS_SECRET_ACCESS_KEY": "env-secret",
		"AWS_SESSION_TOKEN":     "env-token",
	}
	getenv := func(k string) string { return env[k] }

	c := Config{Bucket: "b", Prefix: "/a/b/"}.withEnvDefaults(getenv)
	if c.AccessKey != "env-key" || c.SecretKey != "env-secret" || c.SessionToken != "env-token" {
		t.Errorf("credentials from env = %q %q %q", c.AccessKey, c.SecretKey, c.SessionToken)
	}
	if c.Endpoint != defaultEndpoint || c.Connections != DefaultConnections || c.Prefix != "a/b" {
		t.Errorf("defaults: endpoint %q, connections %d, prefix %q", c.Endpoint, c.Connections, c.Prefix)
	}

	c = Config{AccessKey: "k", SecretKey: "s", Endpoint: "e:9000", Connections: 3}.withEnvDefaults(getenv)
	if c.AccessKey != "k" || c.SecretKey != "s" || c.SessionToken != "" {
		t.Errorf("explicit credentials replaced by env: %q %q %q", c.AccessKey, c.SecretKey, c.SessionToken)
	}
	if c.Endpoint != "e:9000" || c.Connections != 3 {
		t.Errorf("explicit endpoint/connections changed: %q %d", c.Endpoint, c.Connections)
	}
}

func TestValidate(t *testing.T) {
	good := Config{Endpoint: "s3.example.com", Bucket: "bucket"}
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // substring of the error; "" for no error
	}{
		{"good", func(*Config) {}, ""},
		{"no bucket", func(c *Config) { c.Bucket = "" }, "bucket"},
		{"bad bucket", func(c *Config) { c.Bucket = "b" }, "bucket"},
		{"scheme in endpoint", func(c *Config) { c.Endpoint = "https://s3.example.com" }, "without scheme"},
		{"path in endpoint", func(c *Config) { c.Endpoint = "s3.example.com/x" }, "without scheme"},
		{"key without secret", func(c *Config) { c.AccessKey = "k" }, "together"},
		{"unknown lookup", func(c *Config) { c.Lookup = "sideways" }, "lookup"},
	}
	for _, tc := range tests {
		c := good
		tc.modify(&c)
		err := c.validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: validate() = %v, want error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestClientOptions(t *testing.T) {
	for lookup, want := range map[string]minio.BucketLookupType{
		"": minio.BucketLookupAuto, "auto": minio.BucketLookupAuto,
		"path": minio.BucketLookupPath, "virtual": minio.BucketLookupDNS,
	} {
		c := Config{Bucket: "b", Lookup: lookup}.withEnvDefaults(func(string) string { return "" })
		opts, err := c.clientOptions()
		if err != nil {
			t.Fatalf("clientOptions(lookup %q): %v", lookup, err)
		}
		if opts.BucketLookup != want || opts.MaxRetries != 1 || !opts.Secure {
			t.Errorf("lookup %q: BucketLookup %v, MaxRetries %d, Secure %v", lookup, opts.BucketLookup, opts.MaxRetries, opts.Secure)
		}
	}
}

func TestBuildTransport(t *testing.T) {
	c := Config{Bucket: "b", Connections: 12}
	tr, err := c.buildTransport()
	if err != nil {
		t.Fatalf("buildTransport: %v", err)
	}
	if tr.MaxIdleConnsPerHost != 12 {
		t.Errorf("MaxIdleConnsPerHost = %d, want 12", tr.MaxIdleConnsPerHost)
	}

	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.CAFile = notPEM
	if _, err := c.buildTransport(); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Errorf("buildTransport with a non-PEM CA file: %v", err)
	}
	c.CAFile = filepath.Join(dir, "missing.pem")
	if _, err := c.buildTransport(); err == nil {
		t.Errorf("buildTransport with a missing CA file succeeded")
	}
	c.CAFile, c.Insecure = notPEM, true
	if _, err := c.buildTransport(); err == nil {
		t.Errorf("buildTransport with a CA file for plain HTTP succeeded")
	}
}

// TestCAFile talks HTTPS to a server whose certificate only the CA file
// vouches for.
func TestCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead || r.URL.Path != "/bucket/repo/config" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", "42")
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		w.Header().Set("ETag", `"abc"`)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	block := &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Endpoint: srv.Listener.Addr().String(), Bucket: "bucket", Prefix: "repo",
		AccessKey: "k", SecretKey: "s", Region: "us-east-1", Lookup: "path",
	}

	s, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Stat(t.Context(), "config")
	var unknownCA x509.UnknownAuthorityError
	if !errors.As(err, &unknownCA) || errors.Is(err, storage.ErrTransient) {
		t.Errorf("Stat without the CA file: got %v, want a non-transient unknown-authority error", err)
	}

	cfg.CAFile = caFile
	if s, err = New(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := s.Stat(t.Context(), "config")
	if err != nil || fi.Size != 42 {
		t.Errorf("Stat with the CA file = %+v, %v", fi, err)
	}
}
