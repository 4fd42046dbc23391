package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/klauspost/compress/zstd"
)

// Config is the repository configuration stored in the config object
// (FORMAT.md section 5).
type Config struct {
	Version          int            `json:"version"`
	ID               string         `json:"id"`
	Created          time.Time      `json:"created"`
	Chunker          chunker.Params `json:"chunker"`
	Compression      string         `json:"compression"`
	CompressionLevel int            `json:"compression_level"`
	PackSize         int            `json:"pack_size"`
	// ContentKeys, when set, are the content-ID key and the chunker key
	// this repository uses instead of deriving them from its master
	// secret: those of the repository it was made to chunk alike
	// (InitOptions.ChunkerFrom). Revision 1.1, FORMAT.md section 5.
	ContentKeys *ContentKeys `json:"content_keys,omitempty"`
}

// ContentKeys are the two keys that decide chunking and naming, in hex.
// They decrypt nothing, but they let whoever holds them confirm that a
// known file is stored, so they live only inside the sealed config.
type ContentKeys struct {
	ID      string `json:"id"`
	Chunker string `json:"chunker"`
}

func newContentKeys(k *crypto.Keys) *ContentKeys {
	id, ch := k.ContentKeys()
	return &ContentKeys{ID: hex.EncodeToString(id[:]), Chunker: hex.EncodeToString(ch[:])}
}

// decode returns the two keys, or an error wrapping ErrCorrupt unless each
// is exactly 32 bytes of lowercase hex.
func (c *ContentKeys) decode() (id, chunker [crypto.KeySize]byte, err error) {
	for _, f := range []struct {
		name, hex string
		out       *[crypto.KeySize]byte
	}{{"id", c.ID, &id}, {"chunker", c.Chunker, &chunker}} {
		b, derr := hex.DecodeString(f.hex)
		if derr != nil || len(b) != crypto.KeySize || hex.EncodeToString(b) != f.hex {
			return id, chunker, fmt.Errorf("config: content_keys.%s is not %d bytes of lowercase hex: %w", f.name, crypto.KeySize, ErrCorrupt)
		}
		copy(f.out[:], b)
	}
	return id, chunker, nil
}

// keys returns the subkeys of this repository: those derived from mk,
// with the content-ID and chunker keys of ContentKeys when it is set. The
// config must have passed validate.
func (c *Config) keys(mk crypto.MasterKey) *crypto.Keys {
	if c.ContentKeys == nil {
		return crypto.DeriveKeys(mk)
	}
	id, ch, err := c.ContentKeys.decode()
	if err != nil {
		panic("repo: keys of an unvalidated config: " + err.Error())
	}
	return crypto.DeriveKeysWith(mk, id, ch)
}

const (
	// FormatVersion is the repository format this package reads and writes.
	FormatVersion = 1
	// DefaultPackSize is the pack target size.
	DefaultPackSize = 16 << 20

	configName      = "config"
	compressionZstd = "zstd"
	compressionNone = "none"

	// Pack sizes outside these bounds are refused: tiny packs defeat the
	// point of packing (tests use small ones), and offsets are 32-bit.
	minPackSize = 4 << 10
	maxPackSize = 1 << 30
)

func newConfig(opts InitOptions, created time.Time) (Config, error) {
	var id [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Config{}, fmt.Errorf("generate repository ID: %w", err)
	}
	cfg := Config{
		Version:          FormatVersion,
		ID:               hex.EncodeToString(id[:]),
		Created:          created,
		Chunker:          opts.Chunker,
		Compression:      compressionZstd,
		CompressionLevel: opts.CompressionLevel,
		PackSize:         opts.PackSize,
	}
	if cfg.Chunker == (chunker.Params{}) {
		cfg.Chunker = chunker.DefaultParams()
	}
	if cfg.CompressionLevel == 0 {
		// The encoder's default level: measured on the Go tree and the Go
		// module cache it makes repositories 3-5% smaller than the fastest
		// level (as small as restic's or smaller), for about 15-40% more
		// compression CPU, spread over the cores.
		cfg.CompressionLevel = int(zstd.SpeedDefault)
	}
	if cfg.PackSize == 0 {
		cfg.PackSize = DefaultPackSize
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	// The chunker must accept the parameters before they are written down.
	if err := chunker.Check(cfg.Chunker); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// validate checks what this client needs to use the repository safely.
func (c *Config) validate() error {
	if c.Version != FormatVersion {
		return fmt.Errorf("repository format version %d is not supported by this cairn (it reads version %d); upgrade cairn", c.Version, FormatVersion)
	}
	if len(c.ID) != 64 {
		return fmt.Errorf("config: invalid repository ID %q", c.ID)
	}
	if _, err := hex.DecodeString(c.ID); err != nil {
		return fmt.Errorf("config: invalid repository ID %q", c.ID)
	}
	switch c.Compression {
	case compressionZstd:
		if c.CompressionLevel < int(zstd.SpeedFastest) || c.CompressionLevel > int(zstd.SpeedBestCompression) {
			return fmt.Errorf("config: compression level %d out of range %d-%d", c.CompressionLevel, zstd.SpeedFastest, zstd.SpeedBestCompression)
		}
	case compressionNone:
	default:
		return fmt.Errorf("config: unsupported compression %q", c.Compression)
	}
	if c.PackSize < minPackSize || c.PackSize > maxPackSize {
		return fmt.Errorf("config: pack size %d out of range %d-%d", c.PackSize, minPackSize, maxPackSize)
	}
	if c.ContentKeys != nil {
		// Authenticated, so whoever wrote it had the master secret: a
		// malformed field is damage (or a broken writer), never a wrong
		// passphrase.
		if _, _, err := c.ContentKeys.decode(); err != nil {
			return err
		}
	}
	return nil
}

func (r *Repository) saveConfig(ctx context.Context) error {
	body, err := json.Marshal(r.cfg)
	if err != nil {
		return err
	}
	if err := r.store.Put(ctx, configName, r.sealEnvelope("config", body)); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// openConfig authenticates and decodes the sealed config with keys.
func openConfig(keys *crypto.Keys, sealed []byte) (Config, error) {
	body, err := openEnvelope(keys, nil, configName, "config", sealed)
	if err != nil {
		return Config{}, err
	}
	var cfg Config
	if err := json.Unmarshal(body, &cfg); err != nil {
		return Config{}, fmt.Errorf("config: decode: %v: %w", err, ErrCorrupt)
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// cacheDir is where the index cache of repository id lives.
func cacheDir(base, id string) string { return filepath.Join(base, id, "index") }
