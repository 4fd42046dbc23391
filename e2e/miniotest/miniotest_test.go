package miniotest

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

func TestAppendOnlyPolicy(t *testing.T) {
	var policy struct {
		Statement []struct {
			Effect   string
			Action   []string
			Resource []string
		}
	}
	if err := json.Unmarshal([]byte(AppendOnlyPolicy("backups")), &policy); err != nil {
		t.Fatalf("policy is not JSON: %v", err)
	}
	var actions []string
	for _, st := range policy.Statement {
		if st.Effect != "Allow" {
			t.Errorf("statement with effect %q", st.Effect)
		}
		actions = append(actions, st.Action...)
	}
	slices.Sort(actions)
	want := []string{"s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:PutObject"}
	if !slices.Equal(actions, want) {
		t.Errorf("actions = %q, want %q (and no s3:DeleteObject)", actions, want)
	}
}

func TestStart(t *testing.T) {
	s := Start(t)
	if got, want := s.URL("bkt", "a/b"), "s3+http://"+s.Endpoint+"/bkt/a/b"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	if got, want := s.URL("bkt", ""), "s3+http://"+s.Endpoint+"/bkt"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	s.MakeBucket(t, "made-by-test")
	ok, err := s.client.BucketExists(t.Context(), "made-by-test")
	if err != nil || !ok {
		t.Errorf("BucketExists after MakeBucket = %v, %v", ok, err)
	}
	resp, err := http.Get("http://" + s.Endpoint + "/minio/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("ready: HTTP %d", resp.StatusCode)
	}
}
