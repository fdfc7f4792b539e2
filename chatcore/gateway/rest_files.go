package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/filestore"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// Files over REST (issue 15; PROTOCOL.md, Files).
//
// POST /api/rooms/{id}/files?name=<file name> takes the raw bytes as the
// body and streams them to the storage: the body is never held whole, and
// max_file is enforced while reading (a Content-Length over it is refused
// before reading anything). The type comes from the bytes (file_types.go).
//
// GET /api/rooms/{id}/files/{file} checks membership on every request
// (authorize: the entity cache every membership change invalidates), so a
// member who left gets 403 at once. It never goes through chat_cache (no
// route of the Caddyfile stores it) and is served "Cache-Control: private,
// no-cache": no shared cache may keep it, and a browser must revalidate
// each time, which is another membership check (a matching ETag then costs
// a 304, not the bytes).

func (a *API) uploadFile(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	room, err := pathID(r)
	if err != nil {
		return err
	}
	name := fileName(r.URL.Query().Get("name"))
	if err := a.allowUpload(r.Context(), who.UserID); err != nil {
		return err
	}
	if err := a.authorize(r.Context(), room, who); err != nil {
		return err
	}
	limit := a.cfg.MaxFile
	if r.ContentLength > limit {
		return errFileTooLarge(limit)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	head := make([]byte, 512)
	n, err := io.ReadFull(body, head)
	switch {
	case errors.Is(err, io.EOF) || n == 0:
		return badRequest("empty file: send the file's bytes as the request body")
	case errors.Is(err, io.ErrUnexpectedEOF): // a file under 512 bytes
	case err != nil:
		return bodyError(err, limit)
	}
	head = head[:n]
	ctype, ok := sniffType(head)
	if !ok {
		return errf(http.StatusUnsupportedMediaType, wire.CodeBadRequest, "file type "+ctype+" is not allowed")
	}
	key, size, err := a.core.Files.Put(r.Context(), io.MultiReader(bytes.NewReader(head), body))
	if err != nil {
		return bodyError(err, limit)
	}
	rec := store.FileRecord{File: chatcore.File{Name: name, Type: ctype, Size: size}, Room: room, User: who.UserID, Key: key}
	if inlineImage(ctype) {
		if rec.Width, rec.Height, ok = a.storedImageSize(r.Context(), key); !ok {
			a.deleteFile(key)
			return errf(http.StatusUnsupportedMediaType, wire.CodeBadRequest, "file looks like "+ctype+" but is not a valid image")
		}
	}
	if err := a.core.Store.CreateFile(r.Context(), &rec); err != nil {
		a.deleteFile(key)
		return err
	}
	writeJSON(w, http.StatusCreated, wire.FromFile(room, &rec.File))
	return nil
}

func errFileTooLarge(limit int64) *apiError {
	return errf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "file is over the limit of "+strconv.FormatInt(limit, 10)+" bytes (max_file)")
}

// bodyError answers a failed read of an upload's body: over the limit is
// 413; the client going away or sending a broken body is 400 (nobody may be
// listening); the storage failing is 503.
func bodyError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return errFileTooLarge(limit)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.Canceled):
		return badRequest("reading the request body: " + err.Error())
	}
	return err
}

// storedImageSize reads an image's dimensions from its stored bytes (the
// header only; a JPEG's may follow kilobytes of metadata).
func (a *API) storedImageSize(ctx context.Context, key string) (int, int, bool) {
	f, err := a.core.Files.Open(ctx, key)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	return imageSize(f)
}

// deleteFile removes bytes no row refers to; a failure leaves an orphan
// on disk, not an error for the client.
func (a *API) deleteFile(key string) {
	if err := a.core.Files.Delete(context.Background(), key); err != nil {
		a.log.Warn("gateway: delete unrecorded upload", zapErr(err))
	}
}

func (a *API) file(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	room, err := pathID(r)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("file"), 10, 64)
	if err != nil || id <= 0 {
		return badRequest("file id must be a positive integer")
	}
	if err := a.authorize(r.Context(), room, who); err != nil {
		return err
	}
	errNoFile := errf(http.StatusNotFound, wire.CodeNotFound, "no such file in this room")
	rec, err := a.core.Store.FileByID(r.Context(), id)
	switch {
	case errors.Is(err, chatcore.ErrNotFound):
		return errNoFile
	case err != nil:
		return err
	case rec.Room != room, rec.Seq == 0 && rec.User != who.UserID, rec.Seq < 0:
		// Until a message carries it, an upload is its uploader's alone;
		// a deleted message's files are nobody's.
		return errNoFile
	}
	f, err := a.core.Files.Open(r.Context(), rec.Key)
	if errors.Is(err, filestore.ErrNotFound) {
		return errNoFile
	} else if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", rec.Type)
	h.Set("X-Content-Type-Options", "nosniff")
	// Opened directly, the file can run nothing and load nothing.
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Content-Disposition", contentDisposition(inlineImage(rec.Type), rec.Name))
	h.Set("Cache-Control", "private, no-cache")
	h.Set("ETag", `"`+rec.Key+`"`)
	http.ServeContent(w, r, "", rec.Created, f)
	return nil
}
