// Package graphemu is a Microsoft Graph v1.0 emulator: the part of Graph the
// entra connector uses, with Graph's request and response shapes, its error
// bodies and its faults, so that the connector is tested through
// msgraph-sdk-go over real HTTP without a tenant. It is an http.Handler
// (httptest-friendly) and can be served as a command.
//
// It follows these pages of Microsoft's documentation
// (microsoftgraph/microsoft-graph-docs-contrib, api-reference/v1.0 and concepts):
//   - user-post-users.md: POST /users, required accountEnabled, displayName,
//     mailNickname, userPrincipalName, passwordProfile; 201 with the user and
//     no passwordProfile; a UPN conflict is 400 Request_BadRequest with
//     details target userPrincipalName, code ObjectConflict.
//   - user-get.md, user-list.md: GET /users/{id | userPrincipalName}, the
//     default property set without $select, $filter, $select, $top (1..999,
//     default 100) and an absolute @odata.nextLink; signInActivity only on
//     $select, pages of at most 120 users when it is selected or filtered,
//     and its filter not combined with any other property.
//   - user.md, signinactivity.md: signInActivity is left out for a user who
//     has never signed in; lastSignInDateTime is the last interactive
//     attempt, failed or not, lastNonInteractiveSignInDateTime the last
//     non-interactive sign-in, lastSuccessfulSignInDateTime the last that
//     succeeded of either kind (SignedInAt, SignInFailedAt,
//     NonInteractiveSignInAt). A tenant without an Entra ID P1/P2 licence
//     (WithoutPremium) answers a read that selects or filters on it with
//     403 Authentication_RequestFromNonPremiumTenantOrB2CTenant.
//   - aad-advanced-queries.md and its table of filterable user properties
//     (includes/filter-directory-objects.md): eq, in and startsWith where
//     they work by default; ne, comparisons with null and the operators the
//     table marks advanced only with ConsistencyLevel: eventual and
//     $count=true, else 400 Request_UnsupportedQuery "Operator 'ne' is not
//     supported because the required parameters might be missing..."; the
//     $count segment (text/plain) only with ConsistencyLevel: eventual,
//     else 400 "$count is not currently supported."; $count=true without
//     the header silently ignored; @odata.count on the first page of an
//     advanced query (the emulator's choice: no page says whether Graph
//     repeats it on later pages).
//   - user-update.md: PATCH /users/{id} answers 204 without a body.
//   - user.md, passwordprofile.md: passwordProfile is returned only on
//     $select and never with the password; forceChangePasswordNextSignIn
//     reads true while the change forced at the next sign-in is pending, and
//     the profile reads null once the person has signed in and changed it
//     (as reported in microsoftgraph/microsoft-graph-docs-contrib issue
//     #3342). SignIn models that sign-in.
//   - group-get.md, group-list-members.md: GET /groups/{id},
//     GET /groups/{id}/members with @odata.type on each member and paging;
//     the OData cast /members/microsoft.graph.user (also graph.user, the
//     alias msgraph-sdk-go sends), another cast 400 Request_UnsupportedQuery;
//     /members/$count; $filter on members only as an advanced query.
//   - group-post-members.md: POST /groups/{id}/members/$ref with an
//     @odata.id; 204; 400 "One or more added object references already
//     exist for the following modified properties: 'members'." when already a
//     member; 404 when the object does not exist. PATCH /groups/{id} with
//     members@odata.bind (at most 20): if any entry fails, none is added.
//   - group-delete-members.md: DELETE /groups/{id}/members/{oid}/$ref and
//     DELETE /groups/{id}/members/$ref?$id=... (also @id=..., which the SDK sends).
//   - json-batching.md: POST /$batch, at most 20 requests with unique ids,
//     each answered on its own (dependsOn failures get 424).
//   - errors.md: {"error":{"code","message","innerError":{"date","request-id",
//     "client-request-id"}}} with Content-Type application/json, always with a
//     message (the SDK panics without one).
//   - throttling.md: 429 TooManyRequests with Retry-After; every request
//     inside a $batch counts against the budget on its own.
//
// Faults (Faults, settable while serving): a request budget per window
// answering 429 with Retry-After, random 503s, a replication delay during
// which a new object reads as 404, a fault that applies a write and then
// drops the connection, a listing that breaks at a given page (500, a body
// cut halfway, or a missing nextLink), and objects marked
// onPremisesSyncEnabled that refuse writes as Graph does for objects
// mastered in AD. Every applied write is
// logged (Writes) so tests can prove an effect happened exactly once.
//
// The refusal of writes to synced objects uses Graph's text as reported in
// microsoftgraph/microsoft-graph-docs issues #7301 and #18038 ("Unable to
// update the specified properties for on-premises mastered Directory Sync
// objects or objects currently undergoing migration."), and a read-only
// property the text of issue #21601.
//
// The token endpoint (POST /{tenant}/oauth2/v2.0/token) runs the client
// credentials grant against the configured client id and secret, or a
// client assertion signed with the configured certificate (Microsoft
// identity platform, "certificate credentials").
//
// # Examples
//
// Each request below is made in sdk_test.go (TestSDKExamples) through
// msgraph-sdk-go's own request builders (packages users and groups, the
// SDK's PageIterator and BatchRequest), so what the emulator accepts is what
// Microsoft's SDK sends; TestDocNamesEveryExample checks that this list and
// that test's table name the same examples.
//
//   - create-user: POST /users, 201 with the user and no passwordProfile.
//   - create-user-conflict: POST /users with a userPrincipalName in use, 400 ObjectConflict.
//   - get-user: GET /users/{userPrincipalName}, the default property set.
//   - get-user-select: GET /users/{id}?$select=accountEnabled,employeeId,passwordProfile.
//   - get-user-missing: GET /users/{id} of nobody, 404 Request_ResourceNotFound.
//   - update-user: PATCH /users/{id}, 204.
//   - update-synced-user: PATCH of a user synced from AD, 400.
//   - list-users-paged: GET /users?$select&$top, every page through the PageIterator.
//   - list-users-by-employee-id: GET /users?$filter=employeeId eq '...'.
//   - list-users-disabled: GET /users?$filter=accountEnabled eq false.
//   - list-users-advanced: GET /users?$filter=employeeId ne null&$count=true with ConsistencyLevel: eventual, @odata.count.
//   - list-users-advanced-missing: the same without ConsistencyLevel, 400 Request_UnsupportedQuery.
//   - count-users: GET /users/$count with ConsistencyLevel: eventual, text/plain.
//   - count-users-missing: GET /users/$count without it, 400.
//   - list-users-sign-in: GET /users?$select=displayName,userPrincipalName,signInActivity, pages of at most 120.
//   - list-users-sign-in-kinds: GET /users/{id}?$select=id,signInActivity after a failed and a non-interactive sign-in.
//   - list-users-sign-in-unlicensed: the same listing in a tenant without P1/P2, 403.
//   - list-users-sign-in-filter: GET /users?$filter=signInActivity/lastSignInDateTime le ....
//   - get-group: GET /groups/{id}.
//   - list-groups-by-name: GET /groups?$filter=displayName eq '...'.
//   - list-members-paged: GET /groups/{id}/members?$select=id,userPrincipalName&$top, every page, users typed as users.
//   - list-members-users: GET /groups/{id}/members/graph.user?$select=id,accountEnabled.
//   - count-members: GET /groups/{id}/members/$count with ConsistencyLevel: eventual.
//   - add-member: POST /groups/{id}/members/$ref, 204.
//   - add-member-again: the same again, 400 "One or more added object references already exist...".
//   - add-members-bind: PATCH /groups/{id} with members@odata.bind, 204.
//   - remove-member: DELETE /groups/{id}/members/{id}/$ref, 204.
//   - remove-member-by-id: DELETE /groups/{id}/members/$ref?@id=..., 204.
//   - batch: POST /$batch of requests built by the builders, each answered on its own.
//   - create-tap: POST /users/{id}/authentication/temporaryAccessPassMethods, 201.
//   - throttled: a request over the budget, 429 TooManyRequests with Retry-After.
//   - page-error: a listing whose second page answers 500 stops the PageIterator with the error.
package graphemu
