package graphemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/graphemu"
)

// The SDK's own client (the root package, which compiles the whole Graph
// API) registers these serializers; the builders need them to be there.
func init() {
	abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return jsonser.NewJsonSerializationWriterFactory() })
	abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return textser.NewTextSerializationWriterFactory() })
	abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return jsonser.NewJsonParseNodeFactory() })
	abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return textser.NewTextParseNodeFactory() })
}

// bearer puts the emulator's token on every request.
type bearer struct{ token string }

func (b bearer) AuthenticateRequest(_ context.Context, ri *abs.RequestInformation, _ map[string]any) error {
	ri.Headers.Add("Authorization", "Bearer "+b.token)
	return nil
}

// sdk is an emulator with an SDK adapter (the SDK's default middleware,
// retry handler included) pointed at it.
type sdk struct {
	emu     *graphemu.Server
	adapter *msgraphgocore.GraphRequestAdapterBase
	users   *users.UsersRequestBuilder
	groups  *groups.GroupsRequestBuilder
}

func newSDK(t *testing.T) *sdk {
	t.Helper()
	emu := graphemu.New(graphemu.Options{ClientID: "app", ClientSecret: "s", Domains: []string{"ror.test"}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	resp, err := http.PostForm(srv.URL+"/t/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"app"}, "client_secret": {"s"}, "scope": {"https://graph.microsoft.com/.default"}})
	require.NoError(t, err)
	defer resp.Body.Close()
	tok := struct {
		AccessToken string `json:"access_token"`
	}{}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	opts := msgraphgocore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "1.89.0"}
	a, err := msgraphgocore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		bearer{tok.AccessToken}, opts, nil, nil, msgraphgocore.GetDefaultClient(&opts))
	require.NoError(t, err)
	a.SetBaseUrl(srv.URL + "/v1.0")
	return &sdk{emu: emu, adapter: a, users: users.NewUsersRequestBuilderInternal(map[string]string{}, a),
		groups: groups.NewGroupsRequestBuilderInternal(map[string]string{}, a)}
}

// odata returns err as Graph's error: status, code, message.
func odata(t *testing.T, err error) (int, string, string) {
	t.Helper()
	var oe *odataerrors.ODataError
	require.True(t, errors.As(err, &oe), "an ODataError: %v", err)
	e := oe.GetErrorEscaped()
	require.NotNil(t, e)
	return oe.ResponseStatusCode, deref(e.GetCode()), deref(e.GetMessage())
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

func eventually() *abs.RequestHeaders {
	h := abs.NewRequestHeaders()
	h.Add("ConsistencyLevel", "eventual")
	return h
}

// noRetry turns the SDK's RetryHandler off for one request, so a 429 is
// seen as it comes.
var noRetry = []abs.RequestOption{&khttp.RetryHandlerOptions{ShouldRetry: func(time.Duration, int, *http.Request, *http.Response) bool { return false }}}

func (s *sdk) newUser(t *testing.T, upn, employeeID string) models.Userable {
	t.Helper()
	u := models.NewUser()
	u.SetAccountEnabled(ptr(true))
	u.SetDisplayName(ptr("Kari Nordmann"))
	u.SetMailNickname(ptr(strings.Split(upn, "@")[0]))
	u.SetUserPrincipalName(&upn)
	if employeeID != "" {
		u.SetEmployeeId(&employeeID)
	}
	pp := models.NewPasswordProfile()
	pp.SetPassword(ptr("Xy7-abcdefgh"))
	pp.SetForceChangePasswordNextSignIn(ptr(true))
	u.SetPasswordProfile(pp)
	made, err := s.users.Post(t.Context(), u, nil)
	require.NoError(t, err)
	return made
}

func (s *sdk) allUsers(t *testing.T, first models.UserCollectionResponseable, headers *abs.RequestHeaders) ([]models.Userable, int) {
	t.Helper()
	it, err := msgraphgocore.NewPageIterator[models.Userable](first, s.adapter, models.CreateUserCollectionResponseFromDiscriminatorValue)
	require.NoError(t, err)
	if headers != nil {
		it.SetHeaders(headers)
	}
	var out []models.Userable
	before := s.emu.Requests()
	require.NoError(t, it.Iterate(t.Context(), func(u models.Userable) bool {
		out = append(out, u)
		return true
	}))
	pages := 1 + s.emu.Requests() - before
	return out, pages
}

// sdkExamples are the package doc's examples, each made through the SDK.
var sdkExamples = map[string]func(t *testing.T, s *sdk){
	"create-user": func(t *testing.T, s *sdk) {
		u := s.newUser(t, "kari@ror.test", "p1")
		require.NotEmpty(t, deref(u.GetId()))
		require.Nil(t, u.GetPasswordProfile(), "the response carries no password")
		require.Equal(t, "p1", deref(u.GetEmployeeId()))
	},
	"create-user-conflict": func(t *testing.T, s *sdk) {
		s.newUser(t, "kari@ror.test", "p1")
		u := models.NewUser()
		u.SetAccountEnabled(ptr(true))
		u.SetDisplayName(ptr("Kari"))
		u.SetMailNickname(ptr("kari"))
		u.SetUserPrincipalName(ptr("KARI@ror.test"))
		pp := models.NewPasswordProfile()
		pp.SetPassword(ptr("Xy7-abcdefgh"))
		u.SetPasswordProfile(pp)
		_, err := s.users.Post(t.Context(), u, nil)
		st, code, msg := odata(t, err)
		require.Equal(t, 400, st)
		require.Equal(t, "Request_BadRequest", code)
		require.Contains(t, msg, "Another object with the same value for property userPrincipalName already exists.")
		var oe *odataerrors.ODataError
		errors.As(err, &oe)
		d := oe.GetErrorEscaped().GetDetails()
		require.Len(t, d, 1)
		require.Equal(t, "ObjectConflict", deref(d[0].GetCode()))
		require.Equal(t, "userPrincipalName", deref(d[0].GetTarget()))
	},
	"get-user": func(t *testing.T, s *sdk) {
		id := deref(s.newUser(t, "kari@ror.test", "p1").GetId())
		u, err := s.users.ByUserId("kari@ror.test").Get(t.Context(), nil)
		require.NoError(t, err)
		require.Equal(t, id, deref(u.GetId()))
		require.Equal(t, "Kari Nordmann", deref(u.GetDisplayName()))
		require.Nil(t, u.GetAccountEnabled(), "not in the default property set")
		require.Nil(t, u.GetEmployeeId(), "not in the default property set")
	},
	"get-user-select": func(t *testing.T, s *sdk) {
		id := deref(s.newUser(t, "kari@ror.test", "p1").GetId())
		u, err := s.users.ByUserId(id).Get(t.Context(), &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "accountEnabled", "employeeId", "passwordProfile"}}})
		require.NoError(t, err)
		require.Equal(t, true, deref(u.GetAccountEnabled()))
		require.Equal(t, "p1", deref(u.GetEmployeeId()))
		require.Nil(t, u.GetDisplayName(), "only what $select names")
		require.Equal(t, true, deref(u.GetPasswordProfile().GetForceChangePasswordNextSignIn()))
		require.Nil(t, u.GetPasswordProfile().GetPassword())
	},
	"get-user-missing": func(t *testing.T, s *sdk) {
		_, err := s.users.ByUserId("00000000-0000-0000-0000-000000000000").Get(t.Context(), nil)
		st, code, msg := odata(t, err)
		require.Equal(t, 404, st)
		require.Equal(t, "Request_ResourceNotFound", code)
		require.Contains(t, msg, "does not exist or one of its queried reference-property objects are not present")
	},
	"update-user": func(t *testing.T, s *sdk) {
		id := deref(s.newUser(t, "kari@ror.test", "p1").GetId())
		patch := models.NewUser()
		patch.SetAccountEnabled(ptr(false))
		patch.SetDepartment(ptr("helse"))
		res, err := s.users.ByUserId(id).Patch(t.Context(), patch, nil)
		require.NoError(t, err)
		require.Nil(t, res, "204 without a body")
		props, _ := s.emu.User(id)
		require.Equal(t, false, props["accountEnabled"])
		require.Equal(t, "helse", props["department"])
	},
	"update-synced-user": func(t *testing.T, s *sdk) {
		id := s.emu.AddUser(map[string]any{"userPrincipalName": "ad@ror.test", "onPremisesSyncEnabled": true})
		patch := models.NewUser()
		patch.SetAccountEnabled(ptr(false))
		_, err := s.users.ByUserId(id).Patch(t.Context(), patch, nil)
		st, code, msg := odata(t, err)
		require.Equal(t, 400, st)
		require.Equal(t, "Request_BadRequest", code)
		require.Contains(t, msg, "on-premises mastered Directory Sync objects")
	},
	"list-users-paged": func(t *testing.T, s *sdk) {
		want := map[string]bool{}
		for i := range 7 {
			want[s.emu.AddUser(map[string]any{"userPrincipalName": "u" + string(rune('a'+i)) + "@ror.test"})] = true
		}
		first, err := s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: []string{"id", "userPrincipalName"}, Top: ptr(int32(3))}})
		require.NoError(t, err)
		require.Len(t, first.GetValue(), 3)
		require.NotNil(t, first.GetOdataNextLink())
		all, pages := s.allUsers(t, first, nil)
		require.Equal(t, 3, pages)
		got := map[string]bool{}
		for _, u := range all {
			got[deref(u.GetId())] = true
		}
		require.Equal(t, want, got)
	},
	"list-users-by-employee-id": func(t *testing.T, s *sdk) {
		s.newUser(t, "kari@ror.test", "p1")
		s.newUser(t, "ola@ror.test", "p2")
		res, err := s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: ptr("employeeId eq 'p2'"), Select: []string{"id", "userPrincipalName", "employeeId"}}})
		require.NoError(t, err)
		require.Len(t, res.GetValue(), 1)
		require.Equal(t, "ola@ror.test", deref(res.GetValue()[0].GetUserPrincipalName()))
		require.Nil(t, res.GetOdataCount(), "no count without the advanced query parameters")
	},
	"list-users-disabled": func(t *testing.T, s *sdk) {
		s.newUser(t, "kari@ror.test", "p1")
		s.emu.AddUser(map[string]any{"userPrincipalName": "off@ror.test", "accountEnabled": false})
		res, err := s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: ptr("accountEnabled eq false")}})
		require.NoError(t, err)
		require.Len(t, res.GetValue(), 1)
		require.Equal(t, "off@ror.test", deref(res.GetValue()[0].GetUserPrincipalName()))
	},
	"list-users-advanced": func(t *testing.T, s *sdk) {
		s.newUser(t, "kari@ror.test", "p1")
		s.newUser(t, "ola@ror.test", "p2")
		s.emu.AddUser(map[string]any{"userPrincipalName": "guest@ror.test"})
		res, err := s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{Headers: eventually(),
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: ptr("employeeId ne null"), Count: ptr(true),
				Select: []string{"id", "employeeId", "accountEnabled"}, Top: ptr(int32(1))}})
		require.NoError(t, err)
		require.Equal(t, int64(2), deref(res.GetOdataCount()))
		all, pages := s.allUsers(t, res, eventually())
		require.Equal(t, 2, pages)
		require.Len(t, all, 2)
		for _, u := range all {
			require.NotEmpty(t, deref(u.GetEmployeeId()))
		}
	},
	"list-users-advanced-missing": func(t *testing.T, s *sdk) {
		_, err := s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: ptr("employeeId ne null"), Count: ptr(true)}})
		st, code, msg := odata(t, err)
		require.Equal(t, 400, st)
		require.Equal(t, "Request_UnsupportedQuery", code)
		require.Contains(t, msg, "Operator 'ne' is not supported because the required parameters might be missing")
	},
	"count-users": func(t *testing.T, s *sdk) {
		s.newUser(t, "kari@ror.test", "p1")
		s.newUser(t, "ola@ror.test", "p2")
		n, err := s.users.Count().Get(t.Context(), &users.CountRequestBuilderGetRequestConfiguration{Headers: eventually()})
		require.NoError(t, err)
		require.Equal(t, int32(2), deref(n))
		n, err = s.users.Count().Get(t.Context(), &users.CountRequestBuilderGetRequestConfiguration{Headers: eventually(),
			QueryParameters: &users.CountRequestBuilderGetQueryParameters{Filter: ptr("employeeId eq 'p2'")}})
		require.NoError(t, err)
		require.Equal(t, int32(1), deref(n))
	},
	"count-users-missing": func(t *testing.T, s *sdk) {
		_, err := s.users.Count().Get(t.Context(), nil)
		st, code, msg := odata(t, err)
		require.Equal(t, 400, st)
		require.Equal(t, "Request_BadRequest", code)
		require.Equal(t, "$count is not currently supported.", msg)
	},
	"list-users-sign-in": func(t *testing.T, s *sdk) {
		for i := range 130 {
			s.emu.AddUser(map[string]any{"userPrincipalName": "u" + strings.Repeat("x", i) + "@ror.test"})
		}
		when := time.Date(2026, 8, 1, 7, 30, 0, 0, time.UTC)
		require.True(t, s.emu.SignedInAt("u@ror.test", when))
		res, err := s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: []string{"displayName", "userPrincipalName", "signInActivity"}, Top: ptr(int32(999))}})
		require.NoError(t, err)
		require.Len(t, res.GetValue(), 120, "at most 120 a page with signInActivity")
		all, _ := s.allUsers(t, res, nil)
		seen := 0
		for _, u := range all {
			if deref(u.GetUserPrincipalName()) == "u@ror.test" {
				require.Equal(t, when, deref(u.GetSignInActivity().GetLastSignInDateTime()))
				seen++
			} else {
				require.Nil(t, u.GetSignInActivity(), "not returned before any sign-in")
			}
		}
		require.Equal(t, 1, seen)
		require.Len(t, all, 130)
		plain, err := s.users.Get(t.Context(), nil)
		require.NoError(t, err)
		for _, u := range plain.GetValue() {
			require.Nil(t, u.GetSignInActivity(), "only on $select")
		}
	},
	"list-users-sign-in-kinds": func(t *testing.T, s *sdk) {
		ok := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		failed := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
		token := time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)
		id := s.emu.AddUser(map[string]any{"userPrincipalName": "kinds@ror.test"})
		require.True(t, s.emu.SignedInAt(id, ok))
		require.True(t, s.emu.SignInFailedAt(id, failed))
		res, err := s.users.ByUserId(id).Get(t.Context(), &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "signInActivity"}}})
		require.NoError(t, err)
		a := res.GetSignInActivity()
		require.Equal(t, failed, deref(a.GetLastSignInDateTime()), "an attempt, failed or not")
		require.Equal(t, ok, deref(a.GetLastSuccessfulSignInDateTime()), "the last that succeeded")
		require.Nil(t, a.GetLastNonInteractiveSignInDateTime())
		require.NotEqual(t, deref(a.GetLastSignInRequestId()), deref(a.GetLastSuccessfulSignInRequestId()))
		require.True(t, s.emu.NonInteractiveSignInAt(id, token))
		res, err = s.users.ByUserId(id).Get(t.Context(), &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "signInActivity"}}})
		require.NoError(t, err)
		a = res.GetSignInActivity()
		require.Equal(t, failed, deref(a.GetLastSignInDateTime()), "interactive only")
		require.Equal(t, token, deref(a.GetLastNonInteractiveSignInDateTime()))
		require.Equal(t, token, deref(a.GetLastSuccessfulSignInDateTime()), "interactive or not")
	},
	"list-users-sign-in-unlicensed": func(t *testing.T, s *sdk) {
		s.emu.AddUser(map[string]any{"userPrincipalName": "nolicence@ror.test"})
		s.emu.SetWithoutPremium(true)
		_, err := s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: []string{"id", "signInActivity"}}})
		st, code, _ := odata(t, err)
		require.Equal(t, 403, st)
		require.Equal(t, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", code)
		res, err := s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: []string{"id", "userPrincipalName"}}})
		require.NoError(t, err, "without signInActivity the read is served")
		require.Len(t, res.GetValue(), 1)
	},
	"list-users-sign-in-filter": func(t *testing.T, s *sdk) {
		s.emu.AddUser(map[string]any{"userPrincipalName": "old@ror.test"})
		s.emu.AddUser(map[string]any{"userPrincipalName": "new@ror.test"})
		s.emu.SignedInAt("old@ror.test", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
		s.emu.SignedInAt("new@ror.test", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		res, err := s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: ptr("signInActivity/lastSignInDateTime le 2026-09-01T00:00:00Z"),
				Select: []string{"userPrincipalName", "signInActivity"}}})
		require.NoError(t, err)
		require.Len(t, res.GetValue(), 1)
		require.Equal(t, "old@ror.test", deref(res.GetValue()[0].GetUserPrincipalName()))
		_, err = s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: ptr("signInActivity/lastSignInDateTime le 2026-09-01T00:00:00Z and accountEnabled eq true")}})
		st, code, _ := odata(t, err)
		require.Equal(t, 400, st, "not with any other filterable property")
		require.Equal(t, "Request_UnsupportedQuery", code)
	},
	"get-group": func(t *testing.T, s *sdk) {
		g := s.emu.AddGroup("Hjemmetjenesten", false)
		res, err := s.groups.ByGroupId(g).Get(t.Context(), nil)
		require.NoError(t, err)
		require.Equal(t, "Hjemmetjenesten", deref(res.GetDisplayName()))
		require.Equal(t, true, deref(res.GetSecurityEnabled()))
	},
	"list-groups-by-name": func(t *testing.T, s *sdk) {
		g := s.emu.AddGroup("Hjemmetjenesten", false)
		s.emu.AddGroup("Legevakt", false)
		res, err := s.groups.Get(t.Context(), &groups.GroupsRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Filter: ptr("displayName eq 'Hjemmetjenesten'"), Select: []string{"id", "displayName", "onPremisesSyncEnabled"}}})
		require.NoError(t, err)
		require.Len(t, res.GetValue(), 1)
		require.Equal(t, g, deref(res.GetValue()[0].GetId()))
	},
	"list-members-paged": func(t *testing.T, s *sdk) {
		g := s.emu.AddGroup("Alle", false)
		sub := s.emu.AddGroup("Under", false)
		want := map[string]bool{sub: true}
		s.emu.AddMembersDirect(g, sub)
		for i := range 5 {
			id := s.emu.AddUser(map[string]any{"userPrincipalName": "m" + strings.Repeat("x", i) + "@ror.test"})
			s.emu.AddMembersDirect(g, id)
			want[id] = true
		}
		first, err := s.groups.ByGroupId(g).Members().Get(t.Context(), &groups.ItemMembersRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: []string{"id", "userPrincipalName"}, Top: ptr(int32(2))}})
		require.NoError(t, err)
		it, err := msgraphgocore.NewPageIterator[models.DirectoryObjectable](first, s.adapter, models.CreateDirectoryObjectCollectionResponseFromDiscriminatorValue)
		require.NoError(t, err)
		got := map[string]bool{}
		usersSeen := 0
		require.NoError(t, it.Iterate(t.Context(), func(o models.DirectoryObjectable) bool {
			got[deref(o.GetId())] = true
			if u, ok := o.(models.Userable); ok {
				require.Contains(t, deref(u.GetUserPrincipalName()), "@ror.test")
				usersSeen++
			} else {
				_, isGroup := o.(models.Groupable)
				require.True(t, isGroup, "the group member comes typed as a group")
			}
			return true
		}))
		require.Equal(t, want, got)
		require.Equal(t, 5, usersSeen)
	},
	"list-members-users": func(t *testing.T, s *sdk) {
		g := s.emu.AddGroup("Alle", false)
		s.emu.AddMembersDirect(g, s.emu.AddGroup("Under", false))
		off := s.emu.AddUser(map[string]any{"userPrincipalName": "off@ror.test", "accountEnabled": false})
		on := s.emu.AddUser(map[string]any{"userPrincipalName": "on@ror.test"})
		s.emu.AddMembersDirect(g, off, on)
		res, err := s.groups.ByGroupId(g).Members().GraphUser().Get(t.Context(), &groups.ItemMembersGraphUserRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.ItemMembersGraphUserRequestBuilderGetQueryParameters{Select: []string{"id", "accountEnabled"}}})
		require.NoError(t, err)
		got := map[string]bool{}
		for _, u := range res.GetValue() {
			got[deref(u.GetId())] = deref(u.GetAccountEnabled())
		}
		require.Equal(t, map[string]bool{off: false, on: true}, got, "users only, with accountEnabled")
	},
	"count-members": func(t *testing.T, s *sdk) {
		g := s.emu.AddGroup("Alle", false)
		s.emu.AddMembersDirect(g, s.emu.AddGroup("Under", false), s.emu.AddUser(map[string]any{"userPrincipalName": "a@ror.test"}))
		n, err := s.groups.ByGroupId(g).Members().Count().Get(t.Context(), &groups.ItemMembersCountRequestBuilderGetRequestConfiguration{Headers: eventually()})
		require.NoError(t, err)
		require.Equal(t, int32(2), deref(n))
		n, err = s.groups.ByGroupId(g).Members().GraphUser().Count().Get(t.Context(), &groups.ItemMembersGraphUserCountRequestBuilderGetRequestConfiguration{Headers: eventually()})
		require.NoError(t, err)
		require.Equal(t, int32(1), deref(n))
	},
	"add-member": func(t *testing.T, s *sdk) {
		g := s.emu.AddGroup("Alle", false)
		id := s.emu.AddUser(map[string]any{"userPrincipalName": "a@ror.test"})
		require.NoError(t, s.groups.ByGroupId(g).Members().Ref().Post(t.Context(), ref(s, id), nil))
		require.Equal(t, []string{id}, s.emu.Members(g))
	},
	"add-member-again": func(t *testing.T, s *sdk) {
		g := s.emu.AddGroup("Alle", false)
		id := s.emu.AddUser(map[string]any{"userPrincipalName": "a@ror.test"})
		s.emu.AddMembersDirect(g, id)
		err := s.groups.ByGroupId(g).Members().Ref().Post(t.Context(), ref(s, id), nil)
		st, code, msg := odata(t, err)
		require.Equal(t, 400, st)
		require.Equal(t, "Request_BadRequest", code)
		require.Equal(t, "One or more added object references already exist for the following modified properties: 'members'.", msg)
	},
	"add-members-bind": func(t *testing.T, s *sdk) {
		g := s.emu.AddGroup("Alle", false)
		a := s.emu.AddUser(map[string]any{"userPrincipalName": "a@ror.test"})
		b := s.emu.AddUser(map[string]any{"userPrincipalName": "b@ror.test"})
		patch := models.NewGroup()
		patch.SetAdditionalData(map[string]any{"members@odata.bind": []string{
			"https://graph.microsoft.com/v1.0/directoryObjects/" + a, "https://graph.microsoft.com/v1.0/directoryObjects/" + b}})
		_, err := s.groups.ByGroupId(g).Patch(t.Context(), patch, nil)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{a, b}, s.emu.Members(g))
	},
	"remove-member": func(t *testing.T, s *sdk) {
		g := s.emu.AddGroup("Alle", false)
		id := s.emu.AddUser(map[string]any{"userPrincipalName": "a@ror.test"})
		s.emu.AddMembersDirect(g, id)
		require.NoError(t, s.groups.ByGroupId(g).Members().ByDirectoryObjectId(id).Ref().Delete(t.Context(), nil))
		require.Empty(t, s.emu.Members(g))
		err := s.groups.ByGroupId(g).Members().ByDirectoryObjectId(id).Ref().Delete(t.Context(), nil)
		st, code, _ := odata(t, err)
		require.Equal(t, 404, st)
		require.Equal(t, "Request_ResourceNotFound", code)
	},
	"remove-member-by-id": func(t *testing.T, s *sdk) {
		g := s.emu.AddGroup("Alle", false)
		id := s.emu.AddUser(map[string]any{"userPrincipalName": "a@ror.test"})
		s.emu.AddMembersDirect(g, id)
		require.NoError(t, s.groups.ByGroupId(g).Members().Ref().Delete(t.Context(), &groups.ItemMembersRefRequestBuilderDeleteRequestConfiguration{
			QueryParameters: &groups.ItemMembersRefRequestBuilderDeleteQueryParameters{Id: ptr("https://graph.microsoft.com/v1.0/directoryObjects/" + id)}}))
		require.Empty(t, s.emu.Members(g))
	},
	"batch": func(t *testing.T, s *sdk) {
		g := s.emu.AddGroup("Alle", false)
		id := s.emu.AddUser(map[string]any{"userPrincipalName": "a@ror.test"})
		add, err := s.groups.ByGroupId(g).Members().Ref().ToPostRequestInformation(t.Context(), ref(s, id), nil)
		require.NoError(t, err)
		get, err := s.users.ByUserId("nobody@ror.test").ToGetRequestInformation(t.Context(), nil)
		require.NoError(t, err)
		b := msgraphgocore.NewBatchRequest(s.adapter)
		addItem, err := b.AddBatchRequestStep(*add)
		require.NoError(t, err)
		getItem, err := b.AddBatchRequestStep(*get)
		require.NoError(t, err)
		res, err := b.Send(t.Context(), s.adapter)
		require.NoError(t, err)
		codes := res.GetStatusCodes()
		require.Equal(t, int32(204), codes[deref(addItem.GetId())])
		require.Equal(t, int32(404), codes[deref(getItem.GetId())])
		require.Equal(t, []string{id}, s.emu.Members(g))
	},
	"create-tap": func(t *testing.T, s *sdk) {
		id := deref(s.newUser(t, "kari@ror.test", "p1").GetId())
		body := models.NewTemporaryAccessPassAuthenticationMethod()
		body.SetLifetimeInMinutes(ptr(int32(60)))
		body.SetIsUsableOnce(ptr(false))
		res, err := s.users.ByUserId(id).Authentication().TemporaryAccessPassMethods().Post(t.Context(), body, nil)
		require.NoError(t, err)
		require.NotEmpty(t, deref(res.GetTemporaryAccessPass()))
		require.Equal(t, int32(60), deref(res.GetLifetimeInMinutes()))
	},
	"throttled": func(t *testing.T, s *sdk) {
		s.emu.SetFaults(graphemu.Faults{Budget: 1, Window: time.Hour})
		_, err := s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{Options: noRetry})
		require.NoError(t, err)
		_, err = s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{Options: noRetry})
		st, code, _ := odata(t, err)
		require.Equal(t, 429, st)
		require.Equal(t, "TooManyRequests", code)
		var oe *odataerrors.ODataError
		errors.As(err, &oe)
		require.NotEmpty(t, oe.ResponseHeaders.Get("Retry-After"))
	},
	"page-error": func(t *testing.T, s *sdk) {
		for i := range 5 {
			s.emu.AddUser(map[string]any{"userPrincipalName": "u" + strings.Repeat("x", i) + "@ror.test"})
		}
		s.emu.SetFaults(graphemu.Faults{BreakPage: 1, PageFault: "error"})
		first, err := s.users.Get(t.Context(), &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Top: ptr(int32(2))}})
		require.NoError(t, err)
		it, err := msgraphgocore.NewPageIterator[models.Userable](first, s.adapter, models.CreateUserCollectionResponseFromDiscriminatorValue)
		require.NoError(t, err)
		it.SetReqOptions(noRetry)
		n := 0
		err = it.Iterate(t.Context(), func(models.Userable) bool { n++; return true })
		// The PageIterator registers no error mapping: Graph's 500 comes as
		// an ApiError with its status.
		var ae *abs.ApiError
		require.True(t, errors.As(err, &ae), "%v", err)
		require.Equal(t, 500, ae.ResponseStatusCode)
		require.Equal(t, 2, n, "the first page only")
	},
}

func ref(s *sdk, id string) models.ReferenceCreateable {
	r := models.NewReferenceCreate()
	r.SetOdataId(ptr("https://graph.microsoft.com/v1.0/directoryObjects/" + id))
	return r
}

func TestSDKExamples(t *testing.T) {
	for name, run := range sdkExamples {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run(t, newSDK(t))
		})
	}
}

// TestDocNamesEveryExample: the package doc's list of examples and the
// table above name the same requests.
func TestDocNamesEveryExample(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	_, list, ok := strings.Cut(string(doc), "// # Examples")
	require.True(t, ok, "doc.go has an Examples section")
	var inDoc []string
	for _, m := range regexp.MustCompile(`(?m)^//   - ([a-z0-9-]+): `).FindAllStringSubmatch(list, -1) {
		inDoc = append(inDoc, m[1])
	}
	var inTable []string
	for name := range sdkExamples {
		inTable = append(inTable, name)
	}
	sort.Strings(inDoc)
	sort.Strings(inTable)
	require.Equal(t, inTable, inDoc)
}
