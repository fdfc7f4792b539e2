package gateway

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// maxFilesPerMessage bounds the files one message may carry.
const maxFilesPerMessage = 10

// attachable is the send use case's check of a message's files (send.go,
// after membership): at most maxFilesPerMessage distinct positive ids, each
// an existing file (404) uploaded by the sender to this room (403) and not
// attached to a message yet (409). It returns their metadata in id order
// (upload order, as history lists them) for the message and its live
// event. A send with a cid may name files already attached: it may be the
// resend of a stored message, which the batcher answers as a duplicate;
// if it is not, attach_files refuses it in the flush (store.ErrFileTaken,
// 409), which is also what a send that loses a race for a file gets.
func (a *API) attachable(ctx context.Context, room int64, who auth.Claims, ids []int64, cid string) ([]chatcore.File, error) {
	if len(ids) > maxFilesPerMessage {
		return nil, badRequest("files: at most " + strconv.Itoa(maxFilesPerMessage) + " per message")
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	for i, id := range sorted {
		if id <= 0 {
			return nil, badRequest("files: ids must be positive integers")
		}
		if i > 0 && sorted[i-1] == id {
			return nil, badRequest("files: file " + strconv.FormatInt(id, 10) + " is named twice")
		}
	}
	recs, err := a.core.Store.FilesByID(ctx, sorted)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*store.FileRecord, len(recs))
	for i := range recs {
		byID[recs[i].ID] = &recs[i]
	}
	out := make([]chatcore.File, 0, len(sorted))
	for _, id := range sorted {
		f := byID[id]
		name := "file " + strconv.FormatInt(id, 10)
		switch {
		case f == nil:
			return nil, errf(http.StatusNotFound, wire.CodeNotFound, "files: no such file: "+name)
		case f.Room != room || f.User != who.UserID:
			return nil, errf(http.StatusForbidden, wire.CodeForbidden, "files: "+name+" is not your upload to this room")
		case f.Seq != 0 && cid == "":
			return nil, errFileAttached(name)
		}
		out = append(out, f.File)
	}
	return out, nil
}

func errFileAttached(name string) *apiError {
	return errf(http.StatusConflict, wire.CodeConflict, "files: "+name+" is already attached to a message")
}
