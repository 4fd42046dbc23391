package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildInfo is what `cairn version` prints, from the information the Go
// toolchain embeds in every binary (module version, VCS revision).
type buildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"revision_time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: programVersion(), GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	return b
}

// snapshotProgramVersion is what snapshots record as program_version.
func snapshotProgramVersion() string {
	b := readBuildInfo()
	v := "cairn " + b.Version
	if b.Version == "devel" && b.Revision != "" {
		v += " " + b.Revision[:min(12, len(b.Revision))]
		if b.Modified {
			v += "+dirty"
		}
	}
	return v + " (" + b.Platform + ")"
}

func newVersionCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of cairn and how it was built",
		Example: "  cairn version\n  cairn version --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := readBuildInfo()
			if a.v.GetBool("json") {
				return writeJSON(cmd.OutOrStdout(), b)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "cairn %s\n", b.Version)
			if b.Revision != "" {
				mod := ""
				if b.Modified {
					mod = " (with uncommitted changes)"
				}
				fmt.Fprintf(out, "revision %s%s, %s\n", b.Revision, mod, b.Time)
			}
			fmt.Fprintf(out, "built with %s for %s\n", b.GoVersion, b.Platform)
			return nil
		},
	}
}
