package api

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

// The portal's session methods: the person's record and the sign-out
// list in one call; a sign-out lists the session of the actor only.
func TestSession(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	const sid = "c2Vzc2lvbi1pZC0wMTIzNDU2Nzg5"
	var info SessionInfo
	require.NoError(t, f.client(ase, portal).Call(ctx, MethodSession, SessionArgs{Session: sid}, &info))
	require.Equal(t, ase, info.Person.ID)
	require.False(t, info.SignedOut)
	require.False(t, info.ReadsAll)
	require.Empty(t, info.Administers)

	until := time.Now().Add(time.Hour)
	// Another person signing out the same id signs out their own session only.
	require.NoError(t, f.client(kjell, portal).Call(ctx, MethodSignOut, SignOutArgs{Session: sid, Until: until}, nil))
	require.NoError(t, f.client(ase, portal).Call(ctx, MethodSession, SessionArgs{Session: sid}, &info))
	require.False(t, info.SignedOut)
	require.NoError(t, f.client(ase, portal).Call(ctx, MethodSignOut, SignOutArgs{Session: sid, Until: until}, nil))
	require.NoError(t, f.client(ase, portal).Call(ctx, MethodSession, SessionArgs{Session: sid}, &info))
	require.True(t, info.SignedOut)

	for name, args := range map[string]any{
		"a short id":        SignOutArgs{Session: "abc", Until: until},
		"an id with markup": SignOutArgs{Session: "<script>alert(1)</script>xx", Until: until},
		"until too far":     SignOutArgs{Session: sid, Until: time.Now().Add(48 * time.Hour)},
		"no until":          SignOutArgs{Session: sid},
		"an unknown field":  map[string]any{"session": sid, "until": until, "person": kjell},
	} {
		err := f.client(ase, portal).Call(ctx, MethodSignOut, args, nil)
		require.Equal(t, tilgang.Invalid, kindOf(err), "%s: %v", name, err)
	}
	err := f.client(stranger, portal).Call(ctx, MethodSession, SessionArgs{Session: sid}, &info)
	require.Equal(t, tilgang.NotFound, kindOf(err), "a person without a record")
}

// signin.match is the portal's own (a service principal with on_behalf,
// for itself): no person, through the portal or with a key of their own.
func TestSignInMatch(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	var m SignInMatch
	require.NoError(t, f.client(portal, "").Call(ctx, MethodSignInMatch, SignInMatchArgs{Value: ase}, &m))
	require.Equal(t, SignInMatch{Person: ase, Matches: 1}, m)
	m = SignInMatch{}
	require.NoError(t, f.client(portal, "").Call(ctx, MethodSignInMatch, SignInMatchArgs{Value: "1547-404"}, &m))
	require.Equal(t, SignInMatch{}, m)
	require.NoError(t, f.client(portal, "").Call(ctx, MethodSignInMatch, SignInMatchArgs{Value: "x@aukra.kommune.no"}, &m))
	require.Equal(t, SignInMatch{Unverified: true}, m, "an address the provider did not verify")
	for name, c := range map[string]*Client{
		"a person through the portal": f.client(ase, portal),
		"a person with their own key": f.client(ase, ""),
		"an auditor service":          f.client(revisor, ""),
	} {
		err := c.Call(ctx, MethodSignInMatch, SignInMatchArgs{Value: ase}, &m)
		require.Equal(t, tilgang.Denied, kindOf(err), "%s: %v", name, err)
	}
}

// A person's capabilities count when the portal signs for them: a person
// who holds auditor reads the last verify and everyone's audit; others
// are refused; a service auditor's capability is never borrowed.
func TestPersonCapabilities(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	var last LastVerify
	require.NoError(t, f.client(auditorPerson, portal).Call(ctx, MethodLastVerify, nil, &last))
	require.Nil(t, last.Run, "no run yet")
	var rep map[string]any
	require.NoError(t, f.client(auditorPerson, portal).Call(ctx, MethodAuditVerify, nil, &rep))
	require.NoError(t, f.client(auditorPerson, portal).Call(ctx, MethodLastVerify, nil, &last))
	require.NotNil(t, last.Run)
	require.Equal(t, auditorPerson, last.Run.Actor)
	require.True(t, last.Run.Report.OK)

	var page AuditPage
	zero := int64(0)
	require.NoError(t, f.client(auditorPerson, portal).Call(ctx, MethodAudit, AuditArgs{Person: ase, After: &zero}, &page))
	require.NotEmpty(t, page.Rows, "the auditor reads anyone's audit")

	for name, c := range map[string]*Client{
		"a manager":                        f.client(kjell, portal),
		"an administrator":                 f.client(marit, portal),
		"a service auditor via the portal": f.client(revisor, portal),
	} {
		err := c.Call(ctx, MethodLastVerify, nil, &last)
		require.Error(t, err, name)
		require.Equal(t, tilgang.Denied, kindOf(err), "%s: %v", name, err)
	}
}
