package filestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Disk stores files in a directory: each under a random 128-bit key, in a
// subdirectory named by the key's first two hex digits (so no directory
// grows past a few thousand entries). Contents are written to a temporary
// file in the same directory tree and renamed into place once complete and
// synced, so a reader never sees half a file and a crash leaves at most a
// *.tmp file (never a key). Names never come from clients: a key is
// 32 lowercase hex digits and anything else is ErrNotFound.
type Disk struct {
	dir string
}

// NewDisk returns a store rooted at dir. It touches nothing: the first
// Put creates the directory (mode 700: uploads are private to the
// server), so an instance that never stores a file leaves no trace.
func NewDisk(dir string) *Disk { return &Disk{dir: dir} }

// Dir is the store's root.
func (d *Disk) Dir() string { return d.dir }

func validKey(key string) bool {
	if len(key) != 32 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (d *Disk) path(key string) string { return filepath.Join(d.dir, key[:2], key) }

// Put streams r into a temporary file (io.Copy's 32 KiB buffer: memory does
// not grow with the file), syncs it and renames it to a fresh key.
func (d *Disk) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", 0, fmt.Errorf("filestore: key: %w", err)
	}
	key := hex.EncodeToString(raw[:])
	sub := filepath.Join(d.dir, key[:2])
	if err := os.MkdirAll(sub, 0o700); err != nil {
		return "", 0, fmt.Errorf("filestore: create %s: %w", sub, err)
	}
	tmp, err := os.CreateTemp(sub, "put-*.tmp")
	if err != nil {
		return "", 0, fmt.Errorf("filestore: temp file: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, ctxReader{ctx, r})
	if err != nil {
		return "", n, fmt.Errorf("filestore: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return "", n, fmt.Errorf("filestore: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", n, fmt.Errorf("filestore: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), d.path(key)); err != nil {
		return "", n, fmt.Errorf("filestore: rename: %w", err)
	}
	done = true
	return key, n, nil
}

// Open opens key for reading.
func (d *Disk) Open(_ context.Context, key string) (File, error) {
	if !validKey(key) {
		return nil, ErrNotFound
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("filestore: open: %w", err)
	}
	return f, nil
}

// Delete removes key.
func (d *Disk) Delete(_ context.Context, key string) error {
	if !validKey(key) {
		return ErrNotFound
	}
	err := os.Remove(d.path(key))
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("filestore: delete: %w", err)
}

// ctxReader ends a copy once ctx is done (a client gone mid-upload is
// noticed by the body's own error too; this covers a shutdown).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
