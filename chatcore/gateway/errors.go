package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// apiError is an error with its protocol code and HTTP status.
type apiError struct {
	status int
	code   string
	msg    string
	// retry, when set, is sent as Retry-After.
	retry time.Duration
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errf(status int, code, msg string) *apiError {
	return &apiError{status: status, code: code, msg: msg}
}

func badRequest(msg string) *apiError { return errf(http.StatusBadRequest, wire.CodeBadRequest, msg) }

var (
	errUnauthorized = errf(http.StatusUnauthorized, wire.CodeUnauthorized, "missing or invalid token")
	errNotMember    = errf(http.StatusForbidden, wire.CodeForbidden, "not a member of this room")
	errNoRoom       = errf(http.StatusNotFound, wire.CodeNotFound, "no such room")
	errInvalidInput = badRequest("invalid input: the database refused a value of this request")
)

// classify maps any error onto the protocol: sentinel errors from the store
// become their codes (a value Postgres refused, chatcore.ErrInvalidInput, is
// a 400), anything else is unavailable (a dependency failed) and never leaks
// internals.
func classify(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, chatcore.ErrNotFound):
		return errf(http.StatusNotFound, wire.CodeNotFound, "not found")
	case errors.Is(err, chatcore.ErrConflict):
		return errf(http.StatusConflict, wire.CodeConflict, "conflict")
	case errors.Is(err, chatcore.ErrForbidden):
		return errf(http.StatusForbidden, wire.CodeForbidden, "forbidden")
	case errors.Is(err, chatcore.ErrInvalidInput):
		// Postgres refused a value the request carried (store.classify):
		// the request's fault, and retrying it would fail again.
		return errInvalidInput
	case errors.Is(err, chatcore.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return errf(http.StatusServiceUnavailable, wire.CodeUnavailable, "temporarily unavailable, retry")
	default:
		return errf(http.StatusServiceUnavailable, wire.CodeUnavailable, "temporarily unavailable, retry")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := classify(err)
	switch {
	case ae.status >= 500:
		a.log.Warn("gateway: request failed", zapReq(r), zapErr(err))
	case ae == errInvalidInput:
		// A value got past validation to Postgres: answered, but worth
		// knowing, since validation should have named the field.
		a.log.Info("gateway: input refused by the database", zapReq(r), zapErr(err))
	}
	a.core.Metrics.Errors.WithLabelValues(ae.code).Inc()
	var body wire.ErrorBody
	body.Error.Code, body.Error.Message = ae.code, ae.msg
	switch {
	case ae.retry > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int((ae.retry+time.Second-1)/time.Second)))
	case ae.status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, ae.status, body)
}
