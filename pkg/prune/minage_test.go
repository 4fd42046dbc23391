package prune

import (
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/repo/repotest"
)

// TestMinPackAgeLeavesYoungPacksAlone: with --min-pack-age, packs younger
// than it are neither deleted nor repacked (a provider's minimum storage
// duration would bill them anyway); without it, the same prune frees them.
func TestMinPackAgeLeavesYoungPacksAlone(t *testing.T) {
	f := newFixture(t)
	unique := repotest.Content(1, 9000)
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/old/only": unique, "/shared": repotest.Content(2, 4500)})
	f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/shared": repotest.Content(2, 4500), "/new": repotest.Content(3, 3000)})
	f.forget(s1)

	young := mustPrune(t, f.Open(), Options{MinPackAge: 90 * 24 * time.Hour, RepackThreshold: 0.95})
	if young.PacksCondemned != 0 || young.PacksDeleted != 0 || young.PacksRepacked != 0 || young.PacksTooYoung == 0 {
		t.Fatalf("young packs touched: %+v", young)
	}
	f.verifyAll()

	old := mustPrune(t, f.Open(), Options{MinPackAge: time.Nanosecond})
	if old.PacksDeleted == 0 || old.PacksTooYoung != 0 {
		t.Fatalf("packs older than the minimum age were not freed: %+v", old)
	}
	f.assertGone(unique)
	f.verifyAll()
	f.checkOK()
}
