package crypto

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// KDFParams are the Argon2id parameters stored in a key file.
type KDFParams struct {
	Algorithm string `json:"algorithm"` // always "argon2id"
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"` // 32 random bytes, base64 in JSON
}

// DefaultKDF is the default Argon2id cost: 64 MiB of memory, four passes,
// two lanes; about half a second on the 2-core machines cairn is built on.
func DefaultKDF() KDFParams {
	return KDFParams{Algorithm: "argon2id", Time: 4, MemoryKiB: 64 * 1024, Threads: 2}
}

// TestKDF is a deliberately weak cost for tests only.
func TestKDF() KDFParams {
	return KDFParams{Algorithm: "argon2id", Time: 1, MemoryKiB: 64, Threads: 1}
}

// KeyFile is the stored form of one passphrase's wrapping of the master
// secret (JSON, stored unencrypted under keys/).
type KeyFile struct {
	Version  int       `json:"version"` // 1
	Created  time.Time `json:"created"`
	Host     string    `json:"host,omitempty"`
	Username string    `json:"username,omitempty"`
	KDF      KDFParams `json:"kdf"`
	// Data is nonce || XChaCha20-Poly1305(kek, master secret) with the
	// associated data keyFileAD, where kek = Argon2id(passphrase, KDF).
	Data []byte `json:"data"`
}

// keyFileAD binds the sealed master secret to its purpose.
const keyFileAD = "cairn 1 key file"

// ErrWrongPassphrase means no key file opened with the given passphrase.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// Hard limits on KDF parameters accepted from a key file, so that a
// hostile key file cannot make the client allocate without bound; no
// KDFLimits can raise them.
const (
	maxKDFMemoryKiB = 4 * 1024 * 1024
	maxKDFTime      = 100
)

// KDFLimits caps the Argon2id cost a client runs for a key file it reads.
// Anyone who may create objects can plant key files, so the cost a key
// file asks for is checked before it is paid.
type KDFLimits struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultKDFLimits are 1 GiB of memory, 16 passes and 16 lanes: sixteen
// times the default cost in memory and four times in passes, and about
// what a laptop can spare.
func DefaultKDFLimits() KDFLimits {
	return KDFLimits{MemoryKiB: 1 << 20, Time: 16, Threads: 16}
}

// orDefault fills zero fields from DefaultKDFLimits.
func (l KDFLimits) orDefault() KDFLimits {
	d := DefaultKDFLimits()
	if l.MemoryKiB == 0 {
		l.MemoryKiB = d.MemoryKiB
	}
	if l.Time == 0 {
		l.Time = d.Time
	}
	if l.Threads == 0 {
		l.Threads = d.Threads
	}
	return l
}

// ErrKDFLimit means a key file asks for more key-derivation memory, passes
// or lanes than the client's KDFLimits allow; it was not run.
var ErrKDFLimit = errors.New("key derivation cost above the limits")

// Within checks p against l (zero fields of l mean the defaults) without
// running anything.
func (p KDFParams) Within(l KDFLimits) error {
	l = l.orDefault()
	if p.MemoryKiB > l.MemoryKiB || p.Time > l.Time || p.Threads > l.Threads {
		return fmt.Errorf("%w: it asks for %d MiB of memory, %d passes and %d lanes; the limits are %d MiB, %d passes and %d lanes",
			ErrKDFLimit, p.MemoryKiB>>10, p.Time, p.Threads, l.MemoryKiB>>10, l.Time, l.Threads)
	}
	return nil
}

// Cost orders key files by how much trying them costs: memory times passes.
func (p KDFParams) Cost() uint64 { return uint64(p.MemoryKiB) * uint64(p.Time) }

// NewKeyFile wraps mk under passphrase with a fresh salt.
func NewKeyFile(mk MasterKey, passphrase []byte, params KDFParams, host, user string, now time.Time) (*KeyFile, error) {
	params.Algorithm = "argon2id"
	params.Salt = make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, params.Salt); err != nil {
		return nil, fmt.Errorf("generate salt: %w", err)
	}
	var nonce [chacha20poly1305.NonceSizeX]byte
	if _, err := io.ReadFull(rand.Reader, nonce[:]); err != nil {
		return nil, fmt.Errorf("generate nonce: %w", err)
	}
	return newKeyFile(mk, passphrase, params, nonce[:], host, user, now)
}

func newKeyFile(mk MasterKey, passphrase []byte, params KDFParams, nonce []byte, host, user string, now time.Time) (*KeyFile, error) {
	kek, err := deriveKEK(passphrase, params)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, err
	}
	data := sealWithNonce(aead, nil, nonce, mk[:], []byte(keyFileAD))
	return &KeyFile{Version: 1, Created: now.UTC(), Host: host, Username: user, KDF: params, Data: data}, nil
}

func deriveKEK(passphrase []byte, p KDFParams) ([]byte, error) {
	if p.Algorithm != "argon2id" {
		return nil, fmt.Errorf("unsupported key derivation %q", p.Algorithm)
	}
	if p.Time == 0 || p.Time > maxKDFTime || p.MemoryKiB < 8 || p.MemoryKiB > maxKDFMemoryKiB || p.Threads == 0 || len(p.Salt) < 16 {
		return nil, fmt.Errorf("key derivation parameters out of range (time %d, memory %d KiB, threads %d, salt %d bytes)",
			p.Time, p.MemoryKiB, p.Threads, len(p.Salt))
	}
	return argon2.IDKey(passphrase, p.Salt, p.Time, p.MemoryKiB, p.Threads, KeySize), nil
}

// Unlock derives the key-encryption key from passphrase and unwraps the
// master secret. A wrong passphrase (or a modified key file) gives an error
// wrapping ErrWrongPassphrase.
func (kf *KeyFile) Unlock(passphrase []byte) (MasterKey, error) {
	var mk MasterKey
	if kf.Version != 1 {
		return mk, fmt.Errorf("unsupported key file version %d", kf.Version)
	}
	kek, err := deriveKEK(passphrase, kf.KDF)
	if err != nil {
		return mk, err
	}
	plain, err := open(kek, nil, kf.Data, []byte(keyFileAD))
	if err != nil {
		return mk, ErrWrongPassphrase
	}
	if len(plain) != KeySize {
		return mk, fmt.Errorf("key file holds %d bytes, want %d", len(plain), KeySize)
	}
	copy(mk[:], plain)
	return mk, nil
}

// Marshal encodes the key file as stored (JSON).
func (kf *KeyFile) Marshal() ([]byte, error) { return json.MarshalIndent(kf, "", "  ") }

// UnmarshalKeyFile decodes a stored key file.
func UnmarshalKeyFile(data []byte) (*KeyFile, error) {
	var kf KeyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("decode key file: %w", err)
	}
	if kf.Version != 1 {
		return nil, fmt.Errorf("unsupported key file version %d", kf.Version)
	}
	return &kf, nil
}
