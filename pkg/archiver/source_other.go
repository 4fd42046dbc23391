//go:build !linux

package archiver

import (
	"errors"
	"fmt"
	"runtime"
)

var errUnsupported = fmt.Errorf("backup on %s: %w", runtime.GOOS, errors.ErrUnsupported)

const (
	fileOpenFlags = 0
	dirOpenFlags  = 0
)

func openFD(path string, flags int, noatime bool) (int, error) { return -1, errUnsupported }

func openSource(path string, noatime bool) (sourceFile, error) { return nil, errUnsupported }

func euid() int { return -1 }
