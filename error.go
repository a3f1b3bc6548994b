package tilgang

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error once, where it happens; everything else reads it.
type Kind string

const (
	Unavailable Kind = "unavailable" // the peer cannot be reached now: retry later
	Throttled   Kind = "throttled"   // the peer asks us to slow down: retry after RetryAfter
	Invalid     Kind = "invalid"     // the input is wrong: never retry
	Denied      Kind = "denied"      // not allowed: never retry
	NotFound    Kind = "not_found"   // the thing named does not exist
	Conflict    Kind = "conflict"    // the state does not allow it (already exists, changed meanwhile)
	Internal    Kind = "internal"    // a bug or an unclassified failure
)

// Error is the project's one error type.
type Error struct {
	Kind       Kind
	Message    string
	RetryAfter time.Duration // for Throttled, when the peer said
	Err        error         // the cause, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		if e.Message == "" {
			return e.Err.Error()
		}
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an Error of kind k.
func Errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap classifies err as k with a message; nil stays nil.
func Wrap(k Kind, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...), Err: err}
}

// KindOf reads the kind of err; anything unclassified is Internal.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Retryable reports whether trying again later may succeed.
func Retryable(err error) bool {
	switch KindOf(err) {
	case Unavailable, Throttled, Internal:
		return true
	}
	return false
}

// RetryAfterOf is the peer's requested wait, 0 when none.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
