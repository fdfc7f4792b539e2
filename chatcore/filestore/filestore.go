// Package filestore keeps uploaded files' bytes. Storage is the small
// interface the gateway needs (Put, Open, Delete); Disk, a directory on
// local disk, is the default implementation. Metadata (names, types, rooms,
// owners) lives in Postgres, never here: a key is all a store knows.
package filestore

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is returned by Open and Delete for a key the store does not
// hold (or one that is not a key at all).
var ErrNotFound = errors.New("filestore: no such file")

// Storage holds file contents under keys it chooses.
type Storage interface {
	// Put copies r to the store, streaming it (never holding it whole),
	// and returns the new key and the bytes written. The file is visible
	// under key only once complete: a failed or cancelled Put leaves
	// nothing behind. r's error (a size limit) is returned wrapped.
	Put(ctx context.Context, r io.Reader) (key string, size int64, err error)
	// Open returns the content of key, seekable (Range requests).
	Open(ctx context.Context, key string) (File, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// File is an opened file: read, seek, close.
type File interface {
	io.ReadSeekCloser
}
