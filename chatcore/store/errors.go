package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// errPoolClosed is returned for work attempted after Close.
var errPoolClosed = errors.New("store closed")

// SQLSTATE codes the store reacts to.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeExclusionViolation  = "23P01"
	codeSerialization       = "40001"
	codeDeadlock            = "40P01"
	codeQueryCanceled       = "57014" // statement_timeout
	codeLockNotAvailable    = "55P03" // lock_timeout
	codeIdleInTxTimeout     = "25P03"
	codeInvalidCatalog      = "3D000" // database does not exist
	codeDuplicateDatabase   = "42P04"
)

// wrapErr prefixes err with the query name and, when it has a chatcore
// meaning, with that sentinel too, so both errors.Is(err, chatcore.ErrX) and
// errors.As(err, *pgconn.PgError) keep working. A cancellation by the caller
// (not our own deadline) is passed through unchanged in meaning.
func wrapErr(name string, caller context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) && caller.Err() != nil {
		return fmt.Errorf("store: %s: %w", name, err)
	}
	if sentinel := classify(err); sentinel != nil {
		return fmt.Errorf("store: %s: %w: %w", name, sentinel, err)
	}
	return fmt.Errorf("store: %s: %w", name, err)
}

// classify maps a driver error to a chatcore sentinel, or nil when the error
// is a plain bug (bad SQL, scan mismatch) that should surface as is.
func classify(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return chatcore.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == codeUniqueViolation, pgErr.Code == codeExclusionViolation, pgErr.Code == codeFileAttach:
			return chatcore.ErrConflict
		case pgErr.Code == codeForeignKeyViolation, pgErr.Code == codeInvalidCatalog:
			return chatcore.ErrNotFound
		case inputCaused(pgErr.Code):
			return chatcore.ErrInvalidInput
		case pgErr.Code == codeQueryCanceled, pgErr.Code == codeLockNotAvailable,
			pgErr.Code == codeIdleInTxTimeout, pgErr.Code == codeSerialization,
			pgErr.Code == codeDeadlock,
			strings.HasPrefix(pgErr.Code, "08"),  // connection exception
			strings.HasPrefix(pgErr.Code, "53"),  // insufficient resources
			strings.HasPrefix(pgErr.Code, "57P"): // admin/crash shutdown, cannot connect now
			return chatcore.ErrUnavailable
		}
		return nil
	}
	if errors.Is(err, errPoolClosed) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.SafeToRetry(err) {
		return chatcore.ErrUnavailable
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var opErr *net.OpError
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.As(err, &opErr) {
		return chatcore.ErrUnavailable
	}
	// Errors of a connection pgx has already given up on ("conn closed").
	if strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "closed pool") {
		return chatcore.ErrUnavailable
	}
	return nil
}

// inputCaused reports whether a SQLSTATE means the database refused a value
// the request carried, so the answer is a 400 and never a 503: every query
// passes input as bind parameters, so a data exception (class 22: a NUL
// 22021, an untranslatable character 22P05, a string too long 22001, a number
// out of range 22003...), an integrity violation other than the ones mapped
// above (class 23: NOT NULL, CHECK) or a program limit (class 54: an index
// row too large) comes from what was sent, not from the database's health.
// Validation should catch all of these first; this is the backstop for
// whatever slips past it.
func inputCaused(code string) bool {
	return strings.HasPrefix(code, "22") || strings.HasPrefix(code, "23") || strings.HasPrefix(code, "54")
}

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
