// Package api is the worker's signed read and admin service: NATS
// request/reply on tilgang.api.<method>, served in the queue group
// "tilgang-api" by every worker replica (DESIGN.md "Command line": reads and
// admin commands are signed request/reply calls answered by what the asker
// may see). Server answers; Client is what the CLI calls it with.
//
// # Request
//
// A call is one NATS request on the subject tilgang.api.<method> (the method
// may hold dots: tilgang.api.status.many) whose body is a JSON object of at
// most 64 KiB:
//
//	{"actor": "1547-20001", "via": "dev", "time": "2026-11-26T10:00:00.123Z",
//	 "nonce": "Xv0hWg9Z1a2b3c4d5e6f7g", "args": {"request_id": "9f86..."}, "sig": "..."}
//
// Its fields:
//
//   - actor is the principal asking; what it may see is judged on actor.
//   - via, optional, is a service principal signing on actor's behalf; it
//     needs only the on_behalf capability (as for envelopes).
//   - time is an RFC 3339 timestamp; the server refuses one more than five
//     minutes off its own clock.
//   - nonce is 8 to 128 letters, digits, '-' or '_', fresh for each call; a
//     replica refuses a (signer, nonce) it has already served within the
//     time window, so a captured call cannot be replayed to it.
//   - args is the method's argument object (see below); {} when it takes none.
//   - sig is the unpadded base64url Ed25519 signature, by via's key when via
//     is set and by actor's key otherwise, over the signing input below.
//
// The signing input (SigningInput) is the UTF-8 bytes of
//
//	method "\n" actor "\n" via "\n" time "\n" nonce "\n" args
//
// where via is "" when absent and args are the exact bytes of the args
// value as they appear in the body. The method comes from the subject, so a
// signed call cannot be redirected to another method.
//
// The server verifies with the principals set exactly as envelopes are
// verified: an unknown signer, a bad signature and a via without on_behalf
// are refused. Keys other than these six, a repeated key, and string fields
// that are not JSON strings are refused too.
//
// # Response
//
//	{"ok": true, "result": ...}
//	{"ok": false, "error": {"kind": "denied", "message": "..."}}
//
// kind is one of tilgang's error kinds (invalid, denied, not_found,
// conflict, unavailable, internal). Internal failures are logged by the
// worker and answered without their details.
//
// Client.StatusAll asks for any number of statuses in calls that fit: each
// request within 64 KiB and at most 500 ids, so that with the why cut the
// answer stays within 1 MiB. Client.Call refuses to send a request over the
// limit.
//
// A response larger than the connection's max payload (1 MiB by default:
// a big audit) is sent as several messages to the reply inbox, each with the
// header Tilgang-Part: "i/n" (1-based); concatenated in order they are the
// body. A response without that header is whole. Client reassembles them.
//
// # Methods (args -> result)
//
//	status        {"request_id"}            -> Status
//	status.many   {"request_ids": [...]}    -> [Status ...] (at most 1000 ids, and the request within
//	                                           64 KiB; in order; unknown or not visible ones have state
//	                                           "unknown"; each why cut to 1 KiB: status has all of it)
//	grants        {"person"?, "system"?, "open_only"?, "limit"?, "after"?} -> [Grant ...] (at most
//	                                           1000: with limit, the page of at most limit grants
//	                                           after the grant after; without, more than 1000 refused)
//	grant         {"grant_id"}              -> GrantDetail (the grant and its operations)
//	operation     {"operation_id"}          -> Operation (with its person)
//	tasks         {"system"?}               -> [Task ...]: the operations waiting for people
//	                                           (manual tasks), oldest first
//	audit         {"person"?, "system"?, "actor"?, "since"?, "until"?, "after"?, "limit"?}
//	                                        -> {"rows": [AuditRow ...], "next"} oldest first, one page;
//	                                           without after: [AuditRow ...], the first page alone;
//	                                           until a date keeps that whole day (Oslo)
//	system        {"system", "role"?, "limit"?, "after"?} -> SystemPage: one page of a system's
//	                                           holders (role, person, id order; next is the after of
//	                                           the page that follows, "" after the last), with its
//	                                           training to confirm and manual tasks on the first page,
//	                                           and its last reconciliation run (last_reconcile:
//	                                           ledger.ReconcileRun, null when none ran; counts only)
//	                                           (its administrators, operators and auditors; system.go)
//	report.access {"system" | "person", "at"? | "from"?, "to"?, "limit"?, "after"?} -> AccessPage:
//	                                           one page of the access register (register.go): the
//	                                           grants held at at, or over the days from..to, now when
//	                                           neither; next is the after of the page that follows
//	                                           (a system's: its administrators, operators and
//	                                           auditors; a person's: the person, their manager,
//	                                           operators and auditors, administrators their systems' rows)
//	audit.verify  {}                        -> ledger.VerifyReport (operators and auditors); each
//	                                           run is recorded in the ledger
//	audit.verify.last {}                    -> {"run": ledger.VerifyRun | null}, the last recorded run
//	                                           (operators and auditors; verifyruns.go)
//	session       {"session"}               -> SessionInfo: the actor's record, whether the portal
//	                                           session is on the sign-out list, whether they read
//	                                           all and which systems they administer (session.go)
//	session.signout {"session", "until"}    -> {}: the actor's session on the sign-out list
//	signin.match  {"value", "email_verified"} -> SignInMatch: whom an OpenID Connect claim names
//	                                           (a service principal with on_behalf, for itself)
//	policy.reload {}                        -> {"version", "replicas": [{"replica", "version", "intake",
//	                                           "error"?} ...]} (operators): the catalogue now in
//	                                           force, and what each replica holds
//	erase         {"before", "dry_run"?}    -> the counts erased (operators; before at least
//	                                           retention.min back; see erase.go)
//	hr.snapshot   {"source", "after"?, "limit"?} -> {"entries", "next"}: an HR source's last
//	                                           snapshot (hr, operators, auditors; see hrsync.go)
//	hr.sync.held  {"summary"}               -> chains and announces a held HR sync (hr)
//	hr.sync.allow {"summary"}               -> records an allowed held sync (hr and operator)
//	review.start, review.list, review.mine, review.close
//	                                        -> access review campaigns (review.go)
//	review.show   {"campaign_id", "mine"?, "limit"?, "after"?} -> ReviewShow: the campaign and its
//	                                           items (review.go); with limit (1..1000) one page in
//	                                           person, role, grant order, next the after of the
//	                                           page that follows ("" after the last); without,
//	                                           every item; mine_open and bulk_keep count the
//	                                           asker's undecided items over every page (with mine
//	                                           on each page, else on the first)
//
// audit pages by seq: after is 0 for the first page and then the next of
// the page before; next is 0 after the last page. A page holds at most
// limit rows (1..1000, default 1000) and about 512 KiB of JSON whatever
// the free texts, and may hold fewer (even none) with rows still to come:
// only next 0 ends the walk.
//
// Status.state is the grant's state when the request has a grant, else the
// request's outcome (rejected, denied, ignored, accepted); "unknown" when
// the request has not been recorded (yet). since is a date YYYY-MM-DD (from
// 00:00 Oslo) or an RFC 3339 timestamp. Unknown argument fields are refused.
//
// A Task carries the operation_id that `tilgang task done|failed` takes,
// the grant's system and role (both "" for account work without a grant),
// since (when it began to wait) and the administrators who may complete
// it: the grant's system's, or for account work those of the systems on
// its connector instance in which the person has an open grant (for a
// disable, also those whose grant the person's leave ended;
// engine.TaskSystems). tasks with a system keeps that system's grants'
// tasks and its account work.
//
// # Visibility
//
// Operators and auditors (capabilities in the principals file) see
// everything. Otherwise a row about person P in system S is visible to P,
// to P's manager (the main employment's manager in P's current HR record)
// and to the administrators of S in the catalogue; a row without a system
// only to P and P's manager (an audit row that names a grant but no system,
// such as an operation's, is in the grant's system). Two additions, so that the people who must act
// can: the principal a pending approval stage names sees that grant (an
// escalated approver need not be the person's manager), and the actor who
// sent a message sees the status of that request (`tilgang hr import`
// follows its own events). Lists are filtered by that rule; a single object
// that is not visible is answered denied, with no more detail. An
// operation without a grant (account work) belongs to the systems
// engine.TaskSystems names, as for `tilgang task done`.
package api
