// Package policy loads and validates the system catalogue (systemoversikt):
// one YAML file per fagsystem in a directory, usually policies/.
//
// A file names the system, its owner (systemeier), its administrators
// (systemansvarlig, person ids), its coordinator (systemkoordinator from
// ROR-IKT), the connector instances it is provisioned through, its roles and
// its birthright rules:
//
//	system: gerica                      # must equal the file name: gerica.yaml
//	name: Gerica
//	owner: Helse og omsorg
//	administrators: [1547-20001, 1547-20002]
//	coordinator: 1547-90001
//	connectors: [ad, manual]
//	roles:
//	  - id: bruker
//	    entitlements: { ad: ["CN=APP-Gerica-Bruker,OU=Groups,DC=ror,DC=test"], manual: [Bruker] }
//	    requestable_by: [manager, hr]   # manager | self | administrator | hr; [] = only by birthright
//	    approval: [systemansvarlig]     # stages in order: manager | systemansvarlig; [] = none
//	    eligible: 'person.org_unit.startsWith("helse")'
//	    default_duration: 180d
//	    max_duration: 365d
//	    credentials_to: manager         # manager (default) | administrators
//	    requires_training: true
//	    conflicts: [gerica/admin]
//	birthright:
//	  - when: 'person.position == "sykepleier"'
//	    roles: [bruker]
//	reconcile: {extra: report, orphan: report, max_removals: 10, max_share: 5%}   # optional; see Reconcile
//	review: {every: 6mo, reviewers: systemansvarlig, duration: 14d, if_no_response: remove, justification: required}   # optional; see Review
//
// Files named *_test.yaml, files starting with '.', and everything in
// sub-directories (tests/) are not part of the catalogue. The catalogue
// version is the SHA-256 over every catalogue file's name and bytes, so any
// edit to any file gives a new version and nothing else does; each decision
// records it together with the deciding file's own hash.
//
// Loading is strict: unknown keys, wrong types, unknown values, dangling
// references and impossible rules are all reported at once, each as
// "path:line: what is wrong", and no catalogue is returned. The worker
// refuses to start on an invalid catalogue and `tilgang policy check` prints
// the same list.
//
// Decisions: Decide is the policy engine, a pure function (catalogue,
// person, request and the person's open grants in; a Decision out; no I/O,
// no clock). The engine calls it:
//   - at request time (When AtRequest): requestable_by (skipped for a
//     birthright request), an end date already past, eligible, conflicts;
//   - again just before provisioning (When AtProvisioning): after the last
//     approval (before training, if the role needs it) and after the
//     training confirmation, since the person may have moved or a
//     conflicting grant opened meanwhile. A refusal then moves the grant to
//     denied, by the worker (actor tilgang), with the policy's reason and
//     rule, and grant.denied: denied is what DESIGN.md calls a request the
//     policy refuses, and cancelled is kept for withdrawals by people (a
//     revoke, a leaver, an operator);
//   - when an HR record changes (mover re-evaluation): a live grant the
//     person is no longer eligible for is revoked with cause mover.
//
// A conflict is with any open grant (any state that is not final) of a
// conflicting role, in any system; the reason names the rule and the
// conflicting grant. A refusal lists every rule that refused.
//
// Durations (Role.End): a duration counts from the Oslo date the grant
// became active, not from the request, so a grant approved three days late
// still gets its full time. A request without an end gets default_duration
// (or max_duration when there is no default); a request with an end date
// (--until) keeps that date as its last day, and max_duration counted from
// activation caps it (the audit says so, with both dates). The last day is
// inclusive: access ends at 00:00 Oslo the day after. "180d" from an
// activation on 1 March ends at the end of 28 August.
//
// Conditions (eligible, birthright when) are CEL (cel.dev/cel-go), compiled
// at load in CELEnv: the standard library, the strings extension, and the
// variables person and request, both maps of any values. PersonVars builds
// person from an HR record as DESIGN.md says policies see it (org_unit,
// position, manager of the main employment, and every employment); request
// is what the engine passes (system, role, actor, reason, valid_until, say).
// Role.IsEligible and Birthright.Applies evaluate them, purely, with a cost
// limit; an evaluation error is kind Invalid.
//
// Decisions that the format leaves open, made here:
//   - approval and requestable_by must be written out, also when empty: a
//     forgotten approval must not silently mean "no approval".
//   - Every role names at least one connector under entitlements; the
//     connectors a grant of the role uses are exactly those keys, and an
//     empty list (manual: []) means "an account there, no group or role".
//   - Conflicts are symmetric: gerica/bruker listing gerica/admin also forbids
//     admin for a holder of bruker (see Catalogue.Conflicting).
//   - Two systemansvarlig stages need two different administrators (a
//     principal approves at most one stage), so a role may not have more
//     systemansvarlig stages than the system has administrators; a person has
//     one manager, so manager may appear only once.
//   - A role that nobody may request and no birthright gives is reported.
//
// A Catalogue is immutable once loaded and safe for concurrent readers; a
// reload builds a new one.
package policy
