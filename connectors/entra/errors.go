package entra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/ror-ikt/tilgang"
)

// Graph's own texts for outcomes that particular operations take as done or
// explain (errors.md, group-post-members.md); matched only by the operation
// that expects them.
const (
	msgAlreadyMember = "One or more added object references already exist"
	msgSynced        = "on-premises mastered Directory Sync objects"
)

// graphError is what classify read from a Graph answer.
type graphError struct {
	status  int
	code    string
	message string
	detail  string // details[0].code, e.g. ObjectConflict
}

// asGraph reads Graph's status, code and message without calling
// ODataError.Error, which panics on a body without error.message.
func asGraph(err error) (graphError, bool) {
	var ie *itemError
	if errors.As(err, &ie) {
		return ie.g, true
	}
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		g := graphError{status: oe.ResponseStatusCode}
		if me := oe.GetErrorEscaped(); me != nil {
			if p := me.GetCode(); p != nil {
				g.code = *p
			}
			if p := me.GetMessage(); p != nil {
				g.message = *p
			}
			if ds := me.GetDetails(); len(ds) > 0 && ds[0].GetCode() != nil {
				g.detail = *ds[0].GetCode()
			}
		}
		return g, true
	}
	var ae *abs.ApiError
	if errors.As(err, &ae) {
		return graphError{status: ae.ResponseStatusCode, message: ae.Message}, true
	}
	return graphError{}, false
}

func retryAfterOf(err error) time.Duration {
	var ie *itemError
	if errors.As(err, &ie) {
		return ie.retryAfter
	}
	var h *abs.ResponseHeaders
	var oe *odataerrors.ODataError
	var ae *abs.ApiError
	switch {
	case errors.As(err, &oe):
		h = oe.GetResponseHeaders()
	case errors.As(err, &ae):
		h = ae.GetResponseHeaders()
	}
	if h == nil {
		return 0
	}
	for _, v := range h.Get("Retry-After") {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
		if t, err := time.Parse(time.RFC1123, v); err == nil {
			return time.Until(t)
		}
	}
	return 0
}

// classify is the one place that turns Graph's answers and transport
// failures into the project's error kinds, keeping Graph's code and message.
// The message is the operation ("entra: grant X to Y"); nil stays nil.
func classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var te *tilgang.Error
	if errors.As(err, &te) {
		return &tilgang.Error{Kind: te.Kind, Message: msg, RetryAfter: te.RetryAfter, Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return tilgang.Wrap(tilgang.Unavailable, err, "%s", msg)
	}
	g, ok := asGraph(err)
	if !ok {
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF") {
			return tilgang.Wrap(tilgang.Unavailable, err, "%s", msg)
		}
		return tilgang.Wrap(tilgang.Internal, err, "%s", msg)
	}
	text := fmt.Sprintf("%s: graph %d %s: %s", msg, g.status, g.code, g.message)
	e := &tilgang.Error{Message: text}
	switch {
	case g.status == 429:
		e.Kind, e.RetryAfter = tilgang.Throttled, retryAfterOf(err)
	case g.status == 500 || g.status == 502 || g.status == 503 || g.status == 504:
		e.Kind, e.RetryAfter = tilgang.Unavailable, retryAfterOf(err)
	case g.status == 401 || g.status == 403:
		e.Kind = tilgang.Denied
	case g.status == 404:
		e.Kind = tilgang.NotFound
	case g.status == 409 || g.status == 412 || g.detail == "ObjectConflict":
		e.Kind = tilgang.Conflict
	case strings.Contains(g.message, msgSynced):
		e.Kind = tilgang.Invalid
		e.Message = text + " (the object is synced from Active Directory: change it through the ad connector)"
	case g.status >= 400 && g.status < 500:
		e.Kind = tilgang.Invalid
	default:
		e.Kind = tilgang.Internal
	}
	return e
}
