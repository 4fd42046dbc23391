package main

import (
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/pkg/check"
)

// checkProgress is the last progress check reported: the stage, its
// counts, and for read data the packs and bytes.
type checkProgress struct {
	stage       check.Stage
	done, total int
	read        check.ReadProgress
}

// work is the status line of the stage check is in.
func (c checkProgress) work(elapsed time.Duration) work {
	if c.stage == check.StageReadData {
		return work{What: "check: read data", Items: uint64(c.read.Packs), TotalItems: uint64(c.read.TotalPacks), Unit: "packs",
			Bytes: uint64(c.read.Bytes), TotalBytes: uint64(c.read.TotalBytes), Elapsed: elapsed}
	}
	return work{What: "check: " + string(c.stage), Items: uint64(max(c.done, 0)), TotalItems: uint64(max(c.total, 0)), Elapsed: elapsed}
}

// interrupted is check's account of an interruption: check only reads,
// so there is nothing to undo, and a new run starts from the beginning.
func (c checkProgress) interrupted(err error) error {
	var done string
	switch {
	case c.stage == check.StageReadData:
		done = fmt.Sprintf("while reading data: %d of %d packs (%s of %s) were read and checked, %d are left",
			c.read.Packs, c.read.TotalPacks, formatBytes(uint64(c.read.Bytes)), formatBytes(uint64(c.read.TotalBytes)),
			c.read.TotalPacks-c.read.Packs)
	case c.stage != "":
		done = fmt.Sprintf("while checking the %s (%d of %d done), before every part was checked", c.stage, c.done, c.total)
	default:
		done = "before it had checked anything"
	}
	return &interruptedError{err: err, msg: "check interrupted " + done +
		"; check only reads, so nothing in the repository was changed, and no damage report was made for this run. " +
		"Run the same command again to check it: it starts over and reads the packs again"}
}
