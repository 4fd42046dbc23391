package crypto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

func fixedMaster() MasterKey {
	var mk MasterKey
	for i := range mk {
		mk[i] = byte(i)
	}
	return mk
}

// TestVectors pins the derivations of FORMAT.md section 3 byte for byte. The
// HKDF and HMAC values were computed independently with Python's hmac and
// hashlib (RFC 5869 by hand), not copied from this code's output.
func TestVectors(t *testing.T) {
	k := DeriveKeys(fixedMaster())
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	check("encryption key", hex.EncodeToString(k.encrypt[:]), "bea7e0aae17a6bcbc49204f553f9a94bd9d8d4b81377bcbc38a33fcf3a514573")
	check("content id key", hex.EncodeToString(k.id[:]), "3846fb58bca56e382468d85ffa0b85d4bfaa5c9778f040dc73721f12e53ceb7c")
	check("chunker key", hex.EncodeToString(k.chunker[:]), "584f0bbb32d99b2e9d8cd0a7aaf166d7088a61fef4a17c9282ac14c15aa85dc9")
	check("content id of \"cairn\"", k.BlobID([]byte("cairn")).String(), "dc4ce8f887db5a33e917c892a18e85a33d2c0367ba772e29e9a9b6e0114774a5")

	nonce := bytes.Repeat([]byte{0x24}, chacha20poly1305.NonceSizeX)
	aead, _ := chacha20poly1305.NewX(k.encrypt[:])
	sealed := sealWithNonce(aead, nil, nonce, []byte("hello cairn"), []byte("cairn 1 config"))
	check("sealed", hex.EncodeToString(sealed), "242424242424242424242424242424242424242424242424b44135f57479f10d1216d87be6e4afc5ceebd9e9ae24b080ba47a5")
	plain, err := k.Open(nil, sealed, []byte("cairn 1 config"))
	if err != nil || string(plain) != "hello cairn" {
		t.Fatalf("open vector: %q, %v", plain, err)
	}

	kf, err := newKeyFile(fixedMaster(), []byte("correct horse"), KDFParams{Algorithm: "argon2id", Time: 1, MemoryKiB: 64, Threads: 1, Salt: bytes.Repeat([]byte{7}, 32)},
		nonce, "host", "user", time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	check("key file data", hex.EncodeToString(kf.Data), "24242424242424242424242424242424242424242424242428a0485f87a0d98f588519e48f20ed6a0a67a73afa5a1f9f800740a1f5217106d6a9619f518a003abd65a6dd58aa413d")
}

func TestSealOpenRoundTripAndTamper(t *testing.T) {
	k := DeriveKeys(fixedMaster())
	msg := []byte("the quick brown fox")
	ad := []byte("cairn 1 snapshot")
	sealed := k.Seal(nil, msg, ad)
	if len(sealed) != len(msg)+Overhead {
		t.Fatalf("sealed length %d, want %d", len(sealed), len(msg)+Overhead)
	}
	got, err := k.Open(nil, sealed, ad)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("round trip: %q %v", got, err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := k.Open(nil, bad, ad); !errors.Is(err, ErrAuth) {
			t.Fatalf("flip byte %d: err = %v, want ErrAuth", i, err)
		}
	}
	if _, err := k.Open(nil, sealed, []byte("cairn 1 index")); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong ad: %v", err)
	}
	if _, err := k.Open(nil, sealed[:10], ad); !errors.Is(err, ErrAuth) {
		t.Fatalf("truncated: %v", err)
	}
	other := DeriveKeys(MasterKey{1})
	if _, err := other.Open(nil, sealed, ad); !errors.Is(err, ErrAuth) {
		t.Fatalf("other key: %v", err)
	}
	if bytes.Equal(k.Seal(nil, msg, ad), sealed) {
		t.Fatal("two seals of the same message are equal: nonce reused")
	}
}

// TestSealInPlace checks that sealing in place gives a message Open
// accepts, in the caller's buffer when it has room for the tag.
func TestSealInPlace(t *testing.T) {
	k := DeriveKeys(fixedMaster())
	msg := []byte("the quick brown fox")
	ad := []byte("cairn 1 blob")
	for _, extra := range []int{0, 16, 100} {
		buf := make([]byte, NonceSize, NonceSize+len(msg)+extra)
		buf = append(buf, msg...)
		sealed := k.SealInPlace(buf, ad)
		if len(sealed) != len(msg)+Overhead {
			t.Fatalf("extra %d: sealed length %d, want %d", extra, len(sealed), len(msg)+Overhead)
		}
		if extra >= 16 && &sealed[0] != &buf[0] {
			t.Errorf("extra %d: sealed into a new buffer", extra)
		}
		got, err := k.Open(nil, sealed, ad)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("extra %d: round trip: %q %v", extra, got, err)
		}
	}
}

func TestKeyFileUnlock(t *testing.T) {
	mk, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	kf, err := NewKeyFile(mk, []byte("secret"), TestKDF(), "h", "u", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := kf.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	kf2, err := UnmarshalKeyFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := kf2.Unlock([]byte("secret"))
	if err != nil || got != mk {
		t.Fatalf("unlock: %v", err)
	}
	if _, err := kf2.Unlock([]byte("Secret")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	kf2.Data[len(kf2.Data)-1] ^= 1
	if _, err := kf2.Unlock([]byte("secret")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("tampered key file: %v", err)
	}
	hostile := *kf
	hostile.KDF.MemoryKiB = 1 << 30
	if _, err := hostile.Unlock([]byte("secret")); err == nil {
		t.Fatal("hostile KDF parameters accepted")
	}
}

func TestParseID(t *testing.T) {
	id := Hash([]byte("x"))
	got, err := ParseID(id.String())
	if err != nil || got != id {
		t.Fatalf("ParseID: %v", err)
	}
	for _, bad := range []string{"", "abc", id.String()[:63] + "g"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) succeeded", bad)
		}
	}
}

func FuzzUnmarshalKeyFile(f *testing.F) {
	mk := fixedMaster()
	kf, _ := NewKeyFile(mk, []byte("pw"), TestKDF(), "h", "u", time.Unix(0, 0))
	raw, _ := kf.Marshal()
	f.Add(raw)
	f.Add([]byte("{}"))
	f.Add([]byte(`{"version":1,"kdf":{"algorithm":"argon2id","time":1,"memory_kib":99999999,"threads":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA=="}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, err := UnmarshalKeyFile(data)
		if err != nil {
			return
		}
		if kf.KDF.MemoryKiB > 1<<16 || kf.KDF.Time > 4 {
			return // keep fuzzing fast; limits are tested above
		}
		_, _ = kf.Unlock([]byte("pw"))
	})
}

func FuzzOpen(f *testing.F) {
	k := DeriveKeys(fixedMaster())
	f.Add(k.Seal(nil, []byte("x"), []byte("ad")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := k.Open(nil, data, []byte("ad")); err == nil && len(data) < Overhead {
			t.Fatal("short message authenticated")
		}
	})
}
