package ad

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/go-ldap/ldap/v3"

	"github.com/ror-ikt/tilgang"
)

// classify is the one place that turns LDAP results into the project's
// error kinds, keeping the server's message (AD puts the reason there, for
// example "0000052D: Constraint violation - check_password_restrictions").
// The message is the operation ("ad: grant X to Y"); nil stays nil.
//
// Already-done results of particular operations (68 on a member add, 53 on a
// member delete) are not handled here: the operation that knows its request
// checks them, so that they are never masked for any other operation.
func classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var te *tilgang.Error
	if errors.As(err, &te) {
		return tilgang.Wrap(te.Kind, err, "%s", msg)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return tilgang.Wrap(tilgang.Unavailable, err, "%s", msg)
	}
	var le *ldap.Error
	if !errors.As(err, &le) {
		var ne net.Error
		if errors.As(err, &ne) {
			return tilgang.Wrap(tilgang.Unavailable, err, "%s", msg)
		}
		return tilgang.Wrap(tilgang.Internal, err, "%s", msg)
	}
	return tilgang.Wrap(kindOf(le.ResultCode), err, "%s", msg)
}

func kindOf(code uint16) tilgang.Kind {
	switch code {
	case ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultServerDown,
		ldap.LDAPResultTimeout, ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultConnectError,
		ldap.LDAPResultLoopDetect:
		return tilgang.Unavailable
	case ldap.LDAPResultAdminLimitExceeded, ldap.LDAPResultSizeLimitExceeded:
		return tilgang.Throttled
	case ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultInvalidCredentials,
		ldap.LDAPResultStrongAuthRequired, ldap.LDAPResultConfidentialityRequired,
		ldap.LDAPResultInappropriateAuthentication, ldap.LDAPResultAuthorizationDenied:
		return tilgang.Denied
	case ldap.LDAPResultNoSuchObject:
		return tilgang.NotFound
	case ldap.LDAPResultEntryAlreadyExists:
		return tilgang.Conflict
	case ldap.LDAPResultConstraintViolation, ldap.LDAPResultObjectClassViolation,
		ldap.LDAPResultNamingViolation, ldap.LDAPResultInvalidDNSyntax, ldap.LDAPResultInvalidAttributeSyntax,
		ldap.LDAPResultUndefinedAttributeType, ldap.LDAPResultNotAllowedOnRDN,
		ldap.LDAPResultNotAllowedOnNonLeaf, ldap.LDAPResultObjectClassModsProhibited,
		ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultAttributeOrValueExists,
		ldap.LDAPResultNoSuchAttribute, ldap.LDAPResultProtocolError,
		ldap.LDAPResultUnavailableCriticalExtension, ldap.LDAPResultInappropriateMatching,
		ldap.LDAPResultAffectsMultipleDSAs, ldap.LDAPResultFilterError:
		// Password policy refusals come as 19 (0000052D) or 53 (enabling an
		// account without an acceptable password): permanent, the message says why.
		return tilgang.Invalid
	}
	return tilgang.Internal
}

// isNetwork reports an error after which the connection cannot be reused.
func isNetwork(err error) bool {
	var le *ldap.Error
	if errors.As(err, &le) {
		return le.ResultCode == ldap.ErrorNetwork || le.ResultCode == ldap.LDAPResultServerDown
	}
	var ne net.Error
	return errors.As(err, &ne)
}
