package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairn-backup/cairn/e2e/miniotest"
)

// TestVersionedBucketRepair plays a stolen backup credential against a
// versioned bucket: it may put, get, list, read versions and even delete
// objects, but not delete versions. It overwrites every pack with random
// bytes and deletes every snapshot object, as `mc cp` and `mc rm` would.
// The owner's check fails, repair objects --dry-run names the damage,
// repair objects brings it back, and every snapshot restores exactly.
func TestVersionedBucketRepair(t *testing.T) {
	const bucket = "versioned"
	srv := miniotest.Start(t)
	bin := cairnBin(t)
	ctx := t.Context()
	rootS3, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.RootUser, srv.RootPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	srv.MakeBucket(t, bucket)
	if err := rootS3.EnableVersioning(ctx, bucket); err != nil {
		t.Fatalf("enable versioning: %v", err)
	}
	owner := newClient(t, bin, srv.URL(bucket, "repo"), "pw").
		with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)
	owner.ok("init")

	srv.AddUser(t, "backupbot", "backupbot-secret", versionedBackupPolicy(bucket))
	bot := newClient(t, bin, owner.repo, "pw").
		with("AWS_ACCESS_KEY_ID", "backupbot").with("AWS_SECRET_ACCESS_KEY", "backupbot-secret")
	// Two backups of two trees, left as they were to compare restores.
	sources := []string{t.TempDir(), t.TempDir()}
	makeTree(t, sources[0], 11, 30)
	makeTree(t, sources[1], 12, 10)
	bot.ok("backup", sources[0])
	bot.ok("backup", sources[1])
	snaps := snapshotsJSON(t, bot)
	if len(snaps) != 2 {
		t.Fatalf("want 2 snapshots, got %d", len(snaps))
	}

	// The attack, with the backup credential and no passphrase.
	botS3, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4("backupbot", "backupbot-secret", "")})
	if err != nil {
		t.Fatal(err)
	}
	var packs, snapshots []string
	for obj := range botS3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "repo/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		switch name := strings.TrimPrefix(obj.Key, "repo/"); {
		case strings.HasPrefix(name, "data/"):
			packs = append(packs, name)
			junk := make([]byte, obj.Size/2+1)
			rand.Read(junk)
			if _, err := botS3.PutObject(ctx, bucket, obj.Key, bytes.NewReader(junk), int64(len(junk)), minio.PutObjectOptions{}); err != nil {
				t.Fatalf("overwrite %s: %v", obj.Key, err)
			}
		case strings.HasPrefix(name, "snapshots/"):
			snapshots = append(snapshots, name)
			if err := botS3.RemoveObject(ctx, bucket, obj.Key, minio.RemoveObjectOptions{}); err != nil {
				t.Fatalf("delete %s: %v", obj.Key, err)
			}
		}
	}
	if len(packs) == 0 || len(snapshots) != 2 {
		t.Fatalf("attack found %d packs and %d snapshots", len(packs), len(snapshots))
	}
	// The credential cannot destroy versions for good.
	for v := range botS3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "repo/" + snapshots[0], WithVersions: true}) {
		if v.Err != nil {
			t.Fatal(v.Err)
		}
		if err := botS3.RemoveObject(ctx, bucket, v.Key, minio.RemoveObjectOptions{VersionID: v.VersionID}); err == nil {
			t.Fatalf("the backup credential deleted version %s of %s", v.VersionID, v.Key)
		}
	}
	if got := len(snapshotsJSON(t, owner)); got != 0 {
		t.Fatalf("after the attack the owner sees %d snapshots", got)
	}

	if r := owner.run("check"); r.code == 0 {
		t.Fatalf("check passed after every pack was overwritten:\n%s", r.stdout)
	}
	dry := owner.ok("repair", "objects", "--dry-run")
	for _, name := range append(append([]string{}, packs...), snapshots...) {
		if !strings.Contains(dry, name) {
			t.Errorf("repair objects --dry-run does not name %s:\n%s", name, dry)
		}
	}
	if got := len(snapshotsJSON(t, owner)); got != 0 {
		t.Fatalf("the dry run restored %d snapshots", got)
	}

	var sum struct {
		Restored      []json.RawMessage `json:"restored"`
		Unrecoverable []json.RawMessage `json:"unrecoverable"`
	}
	out := owner.ok("repair", "objects", "--json")
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("repair objects --json: %v\n%s", err, out)
	}
	if len(sum.Restored) != len(packs)+len(snapshots) || len(sum.Unrecoverable) != 0 {
		t.Fatalf("repair restored %d objects (want %d), %d unrecoverable:\n%s",
			len(sum.Restored), len(packs)+len(snapshots), len(sum.Unrecoverable), out)
	}

	if got := snapshotsJSON(t, owner); len(got) != 2 {
		t.Fatalf("after repair: %d snapshots, want 2", len(got))
	}
	restored := 0
	for _, snap := range snaps {
		for _, src := range sources {
			if len(snap.Paths) == 1 && snap.Paths[0] == src {
				target := t.TempDir()
				owner.ok("restore", snap.ID, "--target", target)
				compareTrees(t, src, filepath.Join(target, src))
				restored++
			}
		}
	}
	if restored != len(sources) {
		t.Fatalf("restored %d snapshots of %v; snapshots %+v", restored, sources, snaps)
	}
	owner.ok("check", "--read-data")
	out = owner.ok("repair", "objects", "--dry-run", "--json")
	if err := json.Unmarshal([]byte(out), &sum); err != nil || len(sum.Restored) != 0 || len(sum.Unrecoverable) != 0 {
		t.Errorf("a second repair finds more to do (%v):\n%s", err, out)
	}

	// Second attack: hide what opening the repository needs, the config
	// and every key file.
	hidden := []string{"config"}
	for obj := range botS3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "repo/keys/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		hidden = append(hidden, strings.TrimPrefix(obj.Key, "repo/"))
	}
	for _, name := range hidden {
		if err := botS3.RemoveObject(ctx, bucket, "repo/"+name, minio.RemoveObjectOptions{}); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
	}
	if r := owner.run("snapshots"); r.code == 0 {
		t.Fatalf("snapshots works without config and key files:\n%s", r.stdout)
	}
	dry = owner.ok("repair", "objects", "--dry-run")
	for _, name := range hidden {
		if !strings.Contains(dry, name) {
			t.Errorf("repair objects --dry-run does not name %s:\n%s", name, dry)
		}
	}
	owner.ok("repair", "objects")
	if got := snapshotsJSON(t, owner); len(got) != 2 {
		t.Fatalf("after restoring access: %d snapshots, want 2", len(got))
	}
	owner.ok("check")
}

// versionedBackupPolicy is the README's backup credential for a versioned
// bucket, plus s3:DeleteObject to show that even a credential that may
// delete objects only hides them: what it must never get is deleting
// versions, or changing versioning, lifecycle or retention.
func versionedBackupPolicy(bucket string) string {
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
			{"Allow", []string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketVersions"},
				[]string{"arn:aws:s3:::" + bucket}},
			{"Allow", []string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"},
				[]string{"arn:aws:s3:::" + bucket + "/*"}},
			{"Deny", []string{"s3:DeleteObjectVersion", "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration",
				"s3:PutObjectRetention", "s3:BypassGovernanceRetention"},
				[]string{"arn:aws:s3:::" + bucket, "arn:aws:s3:::" + bucket + "/*"}},
		},
	}
	b, err := json.Marshal(policy)
	if err != nil {
		panic(err)
	}
	return string(b)
}
