// Command gendata writes the benchmark data sets:
//
//	gendata mixed DIR     a 1 GiB random file, ~256 MiB of compressible text
//	                      in 64 files, and 50,000 small files in 500 dirs
//	gendata small N DIR   N unique 2 KiB files, 1,000 per directory
//
// Content is pseudo-random from a fixed seed, so runs are comparable.
package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "mixed":
		err = mixed(os.Args[2])
	case "small":
		if len(os.Args) != 4 {
			usage()
		}
		n, perr := strconv.Atoi(os.Args[2])
		if perr != nil {
			usage()
		}
		err = small(n, os.Args[3])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gendata mixed DIR | gendata small N DIR")
	os.Exit(2)
}

func randomBytes(r *rand.ChaCha8, n int) []byte {
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

func mixed(dir string) error {
	r := rand.NewChaCha8([32]byte{1})
	if err := os.MkdirAll(filepath.Join(dir, "text"), 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "random-1g.bin"))
	if err != nil {
		return err
	}
	for range 1024 {
		if _, err := f.Write(randomBytes(r, 1<<20)); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	words := []string{"backup", "restore", "cairn", "snapshot", "pack", "index", "blob", "tree",
		"chunk", "dedup", "encrypt", "verify", "object", "storage", "bucket", "key", "the", "a", "of", "and"}
	rng := rand.New(r)
	for i := range 64 {
		f, err := os.Create(filepath.Join(dir, "text", fmt.Sprintf("log-%02d.txt", i)))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for written := 0; written < 4<<20; {
			line := fmt.Sprintf("%d %s %s %s %d\n", rng.IntN(1e6), words[rng.IntN(len(words))],
				words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(1e9))
			n, _ := w.WriteString(line)
			written += n
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	for i := range 50000 {
		d := filepath.Join(dir, "small", fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		size := 100 + rng.IntN(8000)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), randomBytes(r, size), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func small(n int, dir string) error {
	r := rand.NewChaCha8([32]byte{2})
	for i := range n {
		d := filepath.Join(dir, fmt.Sprintf("d%05d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%07d", i)), randomBytes(r, 2048), 0o644); err != nil {
			return err
		}
	}
	return nil
}
