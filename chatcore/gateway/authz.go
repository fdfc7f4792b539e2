package gateway

import (
	"context"
	"errors"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
)

// authorize is the one check of who may read or write a room's messages:
// a send (send.go), a subscribe with its replay and a typing frame (ws_session.go),
// and the REST reads and writes that need membership (rest_*.go). Membership
// comes from Core.isMember (an entity cache every membership change
// invalidates); a revocation ends live subscriptions through the revoker
// (revoke.go). It answers bad_request for a room id that is not positive,
// not_found for a room that does not exist and forbidden for a non-member.
func (a *API) authorize(ctx context.Context, room int64, who auth.Claims) error {
	if room <= 0 {
		return badRequest("room must be a positive integer")
	}
	ok, err := a.core.isMember(ctx, room, who.UserID)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	// Tell "no such room" from "not yours".
	if _, err := a.core.cachedRoom(ctx, room); errors.Is(err, chatcore.ErrNotFound) {
		return errNoRoom
	} else if err != nil {
		return err
	}
	return errNotMember
}
