package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// LeaseCounter is implemented by repositories that can tell the runs whose
// leases are live from those that ended without a done lease (killed runs,
// whose leases the next backup or prune removes). Check reports the counts
// as information when the Repo has it.
type LeaseCounter interface {
	LeaseSummary(ctx context.Context) (live, killed, finished int, err error)
}

// TempReporter is implemented by repositories whose storage can find the
// temporary files that interrupted uploads left behind (a local directory
// after kill -9). Check reports them as information; it removes nothing.
type TempReporter interface {
	StaleTempFiles(ctx context.Context) (count int, size int64, err error)
}

// VersionChecker is implemented by repositories that can scan a versioned
// bucket for overwritten and hidden objects (repo.VersionProblems).
type VersionChecker interface {
	VersionProblems(ctx context.Context) (problems []string, versioned bool, err error)
}

// decodeJSON decodes one JSON value, refusing trailing data.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// checkKeys reads every key file, checked against its name. Key files are
// wrapped under passphrases Check does not have, so the hash is what
// proves them intact.
func (c *checker) checkKeys(ctx context.Context) error {
	ids, err := c.r.ListObjects(ctx, repo.KindKey)
	if err != nil {
		return err
	}
	for _, id := range ids {
		_, err := c.r.LoadKeyFile(ctx, id)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil || errors.Is(err, storage.ErrNotFound) {
			continue // intact, or removed with cairn key remove meanwhile
		}
		if isDecodeError(err) {
			// The bytes match the name, so they arrived intact; they
			// are just not a key file (junk planted under its hash).
			err = fmt.Errorf("%w: %w", err, repo.ErrCorrupt)
		}
		c.fail("key file "+id.String(), err)
	}
	c.report.Keys = len(ids)
	return nil
}

// isDecodeError reports whether err is a JSON decoding failure, which
// storage failures never are.
func isDecodeError(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syntax) || errors.As(err, &typ)
}

// checkLeases reads every lease object, checked against its name and
// authenticated, and reports the runs that have not ended (live, or killed
// before they could say so).
func (c *checker) checkLeases(ctx context.Context) error {
	ids, err := c.r.ListObjects(ctx, repo.KindLease)
	if err != nil {
		return err
	}
	runs := make(map[string]bool) // run → has a done lease
	for _, id := range ids {
		var rec repo.LeaseRecord
		err := c.loadJSON(ctx, repo.KindLease, id, &rec)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, storage.ErrNotFound) {
			continue // ended or removed meanwhile
		}
		if err != nil {
			c.fail("lease "+id.String(), err)
			continue
		}
		runs[rec.Run] = runs[rec.Run] || rec.Done
	}
	open := 0
	for _, done := range runs {
		if !done {
			open++
		}
	}
	if _, counts := c.r.Repo.(LeaseCounter); open > 0 && !counts {
		c.infof("%d runs hold leases without a done lease: running now, or killed (their leases expire after %s; prune removes them)", open, repo.LeaseLifetime)
	}
	if lc, ok := c.r.Repo.(LeaseCounter); ok {
		live, dead, _, err := lc.LeaseSummary(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			c.unreadablef("lease counts: %v", err)
		case dead > 0:
			c.infof("%d runs are live; %d runs ended without releasing their lease (killed?); the next backup or prune removes their leases", live, dead)
		case live > 0:
			c.infof("%d runs are live", live)
		}
	}
	if vc, ok := c.r.Repo.(VersionChecker); ok {
		problems, versioned, err := vc.VersionProblems(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			c.unreadablef("object versions: %v", err)
		case versioned:
			for _, p := range problems {
				c.errorf("%s", p)
			}
		}
	}
	if tr, ok := c.r.Repo.(TempReporter); ok {
		n, size, err := tr.StaleTempFiles(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			c.infof("temporary files: %v", err)
		case n > 0:
			c.infof("%d temporary files of interrupted uploads (%s) are left in the storage; the next backup or prune removes them", n, formatSize(size))
		}
	}
	return nil
}

// formatSize renders a byte count for people.
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
