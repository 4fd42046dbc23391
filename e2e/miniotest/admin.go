package miniotest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// AddUser creates a MinIO user with a policy of its own attached, so tests
// can act with restricted credentials (for example append-only ones made
// with AppendOnlyPolicy). It drives the admin API through the mc client
// from the tools cache (env CAIRN_MC overrides), with a throw-away mc
// configuration folder.
func (s *Server) AddUser(tb testing.TB, accessKey, secretKey, policyJSON string) {
	tb.Helper()
	mc := FindTool(tb, "mc", "CAIRN_MC")
	configDir := tb.TempDir()
	const alias = "cairntest"
	run := func(args ...string) {
		tb.Helper()
		args = append([]string{"--config-dir", configDir, "--no-color", "--quiet"}, args...)
		cmd := exec.CommandContext(tb.Context(), mc, args...)
		cmd.Env = append(os.Environ(), "MC_CONFIG_DIR="+configDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("miniotest: mc %v: %v\n%s", args[4:], err, out)
		}
	}
	policyFile := filepath.Join(configDir, "policy.json")
	if err := os.WriteFile(policyFile, []byte(policyJSON), 0o600); err != nil {
		tb.Fatalf("miniotest: write policy: %v", err)
	}
	policyName := "cairn-policy-" + accessKey

	run("alias", "set", alias, "http://"+s.Endpoint, s.RootUser, s.RootPassword)
	run("admin", "user", "add", alias, accessKey, secretKey)
	run("admin", "policy", "create", alias, policyName, policyFile)
	run("admin", "policy", "attach", alias, policyName, "--user", accessKey)
}

// AppendOnlyPolicy returns an IAM policy for bucket that allows reading,
// listing and writing objects but not deleting them: the credentials a
// backup client gets when the repository must survive a compromised
// client.
func AppendOnlyPolicy(bucket string) string {
	type statement struct {
		Effect   string
		Action   []string
		Resource []string
	}
	policy := struct {
		Version   string
		Statement []statement
	}{
		Version: "2012-10-17",
		Statement: []statement{
			{
				Effect:   "Allow",
				Action:   []string{"s3:GetBucketLocation", "s3:ListBucket"},
				Resource: []string{"arn:aws:s3:::" + bucket},
			},
			{
				Effect:   "Allow",
				Action:   []string{"s3:GetObject", "s3:PutObject"},
				Resource: []string{"arn:aws:s3:::" + bucket + "/*"},
			},
		},
	}
	b, err := json.Marshal(policy)
	if err != nil {
		panic(err) // cannot happen: the value is all strings
	}
	return string(b)
}
