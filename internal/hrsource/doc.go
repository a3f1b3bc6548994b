// Package hrsource reads the snapshots HR systems export and turns the
// difference between two snapshots of one source into HR events (DESIGN.md
// "HR sources: from what HR systems really export").
//
// A Source reads one snapshot: every person as a tilgang.Person, validated,
// with the manager of each employment resolved and per-person data-quality
// warnings. A read that fails or ends early is an error, never an empty
// snapshot. Diff compares a snapshot with the last record kept per person and
// plans joiners, movers and leavers, holding the whole plan when the
// fail-safe trips.
//
// Where each shape comes from (see notes/hr-sources-and-lifecycle.md):
//
//   - stamdata3: the Unit4 / ERP Kommune "Stamdata3" XML file
//     (ExportInfo/Resources/Resource with ResourceId, FirstName, Surname,
//     Addresses/Address/EMailList/string, Employments/Employment with
//     MainPosition, Percentage, PostCodeDescription, SequenceNo, DateFrom,
//     DateTo and Relations/Relation@ElementType ORGANIZATIONAL_UNIT;
//     ExportInfo/Organisations/Organisation with Id, ParentId, Managers/string),
//     after the public sample of datagutten/employee-info-stamdata3. The
//     person id is "{municipality}-{ResourceId}", an employment's id
//     "{ResourceId}-{SequenceNo}"; DateTo 2099-12-31 (or later) is no end.
//     The org unit is the ORGANIZATIONAL_UNIT relation valid on the day of
//     the read (else the latest one). Resource/Municipal is the home
//     municipality, not the employer, and is not read.
//   - visma-hrm: Visma Enterprise HRM's XML web service
//     (/hrm_ws/secure/persons/company/{c}/start-id/{a}/end-id/{b} paged over
//     an id range, .../not-started/date-interval/{from}/{to} for future
//     starters, /hrm_ws/secure/organization/chart/{date}/{company}/ for the
//     unit tree), element names after FINTLabs/vigobas-visma-ma:
//     personsXML/person@personIdHRM, givenName, familyName,
//     contactInfo/email, employments/employment/{employeeId, startDate,
//     endDate, positions/position@isPrimaryPosition@validFromDate with
//     positionStartDate, positionEndDate, positionPercentage,
//     positionInfo/positionCode@positionId@name, chart/unit@id/manager@id,
//     positionStatistics/workClassification@name}; the chart's
//     charts/chart/units/unit@id@parentid with manager@id. The person id is
//     "{municipality}-{personIdHRM}", an employment's
//     "{employeeId}-{positionId}". The position is the positionCode's name,
//     else the workClassification's.
//   - fint: FINT administrasjon/personal JSON (FINTLabs/fint-informasjonsmodell):
//     the collections person, personalressurs, arbeidsforhold and
//     organisasjonselement, each `{"_embedded":{"_entries":[...]},"total_items":n}`
//     with HAL `_links` whose hrefs join them. The person id is
//     "{municipality}-{ansattnummer}", an employment's id its stillingsnummer
//     (shared by every version of one position, so a new version is a mover;
//     of several versions the one valid on the day of the read is taken),
//     else its systemId. ansettelsesprosent is in hundredths; an
//     arbeidsforhold's personalleder is the direct manager, else the leder of
//     its arbeidssted, walking up overordnet. Timestamps are read as the Oslo
//     date of the instant (FINT writes dates as T12:00:00Z).
//   - json: the HR record array of DESIGN.md, decoded strictly.
//   - csv: one row per employment with a configured column mapping.
//
// Every reader reads only the fields the HR record carries: fødselsnummer
// (SocialSecurityNumber, ssn, fodselsnummer) is never decoded, so it cannot
// reach a record, a warning, a rejection or an error. A record that fails
// tilgang.Person.Validate is a Rejection (it keeps its previous state), not
// an error of the read.
//
// Manager: each employment's manager is the one the source names directly
// unless that is the person, else the leader of the employment's unit,
// walking up the unit tree while a unit has no leader or its leader is the
// person (OrgTree.Manager).
package hrsource
