package snapshot

import "testing"

func TestFileMode(t *testing.T) {
	tests := []struct {
		node Node
		want string
	}{
		{Node{Type: NodeFile, Mode: 0o640}, "-rw-r-----"},
		{Node{Type: NodeDir, Mode: 0o2750}, "dgrwxr-x---"},
		{Node{Type: NodeSymlink, Mode: 0o777}, "Lrwxrwxrwx"},
		{Node{Type: NodeFile, Mode: 0o4755}, "urwxr-xr-x"},
		{Node{Type: NodeDir, Mode: 0o1777}, "dtrwxrwxrwx"},
		{Node{Type: NodeCharDev, Mode: 0o666}, "Dcrw-rw-rw-"},
		{Node{Type: NodeFifo, Mode: 0o644}, "prw-r--r--"},
	}
	for _, tc := range tests {
		if got := tc.node.FileMode().String(); got != tc.want {
			t.Errorf("FileMode(%v %o) = %q, want %q", tc.node.Type, tc.node.Mode, got, tc.want)
		}
	}
}
