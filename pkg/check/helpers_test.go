package check

import (
	"testing"

	"github.com/cairn-backup/cairn/pkg/repo/repotest"
)

// fixture is the shared repository fixture; this package's tests add
// their own helpers as methods.
type fixture struct{ *repotest.Fixture }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return &fixture{repotest.NewFixture(t)}
}
