package filestore

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type failing struct{ n int }

func (f *failing) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("client went away")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

// TestDisk: a Put is readable under its key; a failed Put leaves nothing
// (no key, no temporary file); keys that are not keys (paths) are refused.
func TestDisk(t *testing.T) {
	ctx := context.Background()
	d := NewDisk(filepath.Join(t.TempDir(), "files"))
	key, n, err := d.Put(ctx, strings.NewReader("hello"))
	if err != nil || n != 5 || !validKey(key) {
		t.Fatalf("put: %q %d %v", key, n, err)
	}
	f, err := d.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "hello" {
		t.Fatalf("read %q", b)
	}
	if _, _, err := d.Put(ctx, &failing{n: 100 << 10}); err == nil {
		t.Fatal("a failed body was stored")
	}
	var left []string
	filepath.WalkDir(d.Dir(), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			left = append(left, filepath.Base(p))
		}
		return nil
	})
	if len(left) != 1 || left[0] != key {
		t.Fatalf("files left: %v", left)
	}
	for _, bad := range []string{"../../etc/passwd", "", key[:31], strings.ToUpper(key)} {
		if _, err := d.Open(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("open %q: %v", bad, err)
		}
	}
	if err := d.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := d.Delete(ctx, key); err != nil {
		t.Fatalf("delete twice: %v", err)
	}
}
