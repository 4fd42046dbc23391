package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
)

// catEntry is how `cairn cat` shows an index or pack header entry.
type catEntry struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Pack   string `json:"pack,omitempty"`
	Offset uint32 `json:"offset"`
	Length uint32 `json:"length"`
}

// CatJSON returns an object as indented JSON, for `cairn cat`. what is
// config (id ignored), key, snapshot, index, lease, deletion or pack; id may
// be a unique prefix of at least 4 hex digits. An index is shown as
// {"supersedes": [...], "entries": [...]} and a pack as its header entries.
func (r *Repository) CatJSON(ctx context.Context, what string, id string) ([]byte, error) {
	if what == "config" {
		return json.MarshalIndent(r.cfg, "", "  ")
	}
	if what == "pack" {
		return r.catPack(ctx, id)
	}
	if _, err := kindDir(what); err != nil {
		return nil, fmt.Errorf("cat: unknown object type %q (want config, key, snapshot, index, lease, deletion or pack)", what)
	}
	oid, err := r.FindObject(ctx, what, id)
	if err != nil {
		return nil, err
	}
	var body []byte
	if what == KindKey {
		name := ObjectName(KindKey, oid)
		body, err = readLimited(ctx, r.store, name, maxKeyFileSize)
		if err == nil {
			err = checkHash(name, oid, body)
		}
	} else {
		body, err = r.LoadObject(ctx, what, oid)
	}
	if err != nil {
		return nil, err
	}
	if what == KindIndex {
		return catIndex(oid, body)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		return nil, fmt.Errorf("%s: not JSON: %w", ObjectName(what, oid), err)
	}
	return out.Bytes(), nil
}

func catIndex(id crypto.ID, body []byte) ([]byte, error) {
	v, err := index.NewView(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ObjectName(KindIndex, id), err)
	}
	out := struct {
		Supersedes []string   `json:"supersedes"`
		Entries    []catEntry `json:"entries"`
	}{Supersedes: hexIDs(v.Supersedes()), Entries: make([]catEntry, v.Len())}
	for i := range out.Entries {
		e := v.Entry(i)
		out.Entries[i] = catEntry{ID: e.ID.String(), Type: e.Type.String(), Pack: e.Pack.String(), Offset: e.Offset, Length: e.Length}
	}
	return json.MarshalIndent(out, "", "  ")
}

func (r *Repository) catPack(ctx context.Context, id string) ([]byte, error) {
	packID, err := crypto.ParseID(id)
	if err != nil {
		return nil, fmt.Errorf("cat pack: give the full pack ID: %w", err)
	}
	entries, _, err := r.ReadPackHeader(ctx, packID)
	if err != nil {
		return nil, err
	}
	out := make([]catEntry, len(entries))
	for i, e := range entries {
		out[i] = catEntry{ID: e.ID.String(), Type: e.Type.String(), Offset: e.Offset, Length: e.Length}
	}
	return json.MarshalIndent(out, "", "  ")
}
