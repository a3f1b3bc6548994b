package notify

import "fmt"

// Lang is the language of the mails, for <html lang>.
const Lang = "nb"

// nb is the bokmål catalogue of every text a mail carries, by key; the
// templates (templates/*.tmpl, one per event kind) hold only the layout.
// Another language is another map with the same keys (TestTextsComplete
// checks that every key a template names is here). Arguments are filled
// in with fmt verbs.
var nb = map[string]string{
	"from.name":    "Tilgang",
	"greeting":     "Hei, %s.",
	"footer":       "Denne e-posten er sendt automatisk av Tilgang. Du kan ikke svare på den.",
	"footer.why":   "Du får den fordi du har en rolle i saken.",
	"link.open":    "Åpne i Tilgang",
	"person.you":   "deg",
	"role.in":      "%s i %s",
	"stage":        "trinn %d av %d",
	"unknown.name": "(ukjent navn)",

	"approval.pending.subject": "Godkjenning venter: %s i %s for %s",
	"approval.pending.body":    "%s er bedt om tilgang til rollen %s i %s, og du er den som skal godkjenne (%s).",
	"approval.pending.action":  "Godkjenn eller avslå",

	"approval.reminded.subject": "Påminnelse: godkjenning venter fortsatt: %s i %s for %s",
	"approval.reminded.body":    "Tilgangen for %s til rollen %s i %s har ventet på din godkjenning i %d arbeidsdager.",
	"approval.reminded.action":  "Godkjenn eller avslå",

	"approval.escalated.subject":  "Eskalert: godkjenning venter: %s i %s for %s",
	"approval.escalated.body":     "Tilgangen for %s til rollen %s i %s har ventet på godkjenning i %d arbeidsdager uten svar.",
	"approval.escalated.approve":  "Du kan nå godkjenne eller avslå den selv.",
	"approval.escalated.informed": "Du får dette til orientering: følg opp med den som skal godkjenne.",
	"approval.escalated.action":   "Se godkjenningen",

	"training.pending.subject": "Opplæring å bekrefte: %s i %s for %s",
	"training.pending.body":    "%s har fått godkjent rollen %s i %s og venter på at opplæringen blir bekreftet av en systemansvarlig.",
	"training.pending.action":  "Bekreft opplæring",

	"task.manual.subject":      "Manuell oppgave: %s i %s for %s",
	"task.manual.body":         "Det venter en manuell oppgave i %s for %s: %s.",
	"task.manual.action":       "Se oppgaven",
	"task.manual.credential":   "Det venter en manuell oppgave for %s: et nytt passord må leveres ut personlig (ingen som skulle fått det, har en nøkkel å åpne det med).",
	"task.kind.ensure_account": "opprette konto",
	"task.kind.grant":          "gi rollen",
	"task.kind.revoke":         "fjerne rollen",
	"task.kind.disable":        "deaktivere kontoen",
	"task.kind.enable":         "aktivere kontoen",
	"task.kind.other":          "%s",

	"task.reminded.subject": "Påminnelse: manuell oppgave venter: %s i %s for %s",
	"task.reminded.body":    "En manuell oppgave i %s for %s har ventet i %d arbeidsdager: %s.",
	"task.reminded.action":  "Se oppgaven",

	"task.escalated.subject":  "Eskalert: manuell oppgave venter: %s i %s for %s",
	"task.escalated.body":     "En manuell oppgave i %s for %s har ventet i %d arbeidsdager uten å bli gjort: %s.",
	"task.escalated.complete": "Du er systemansvarlig: gjør oppgaven, eller avtal hvem som gjør den.",
	"task.escalated.informed": "Du får dette til orientering som systemkoordinator: følg opp med de systemansvarlige.",
	"task.escalated.action":   "Se oppgaven",

	"grant.active.subject": "Tilgang gitt: %s i %s for %s",
	"grant.active.body":    "%s har nå rollen %s i %s.",
	"grant.active.action":  "Se bestillingen",

	"grant.denied.subject": "Tilgang avslått: %s i %s for %s",
	"grant.denied.body":    "Bestillingen av rollen %s i %s for %s er avslått. Begrunnelsen står i Tilgang.",
	"grant.denied.action":  "Se bestillingen",

	"grant.failed.subject": "Tilgang kunne ikke gis: %s i %s for %s",
	"grant.failed.body":    "Rollen %s i %s for %s kunne ikke gis: noe feilet i systemet. Driften er varslet og kan prøve på nytt.",
	"grant.failed.action":  "Se bestillingen",

	"credential.issued.subject": "Nytt passord til %s i %s for %s",
	"credential.issued.body":    "Det er laget en ny konto %s for %s i %s. Startpassordet er forseglet til deg og står ikke i denne e-posten.",
	"credential.issued.how":     "Åpne det med din egen nøkkel: «tilgang credential open --person %s». Gi passordet til %s personlig; det må byttes ved første pålogging.",
	"credential.issued.action":  "Se bestillingen",

	"person.left.subject": "%s har sluttet",
	"person.left.body":    "%s har sluttet. Tilgangene er fjernet eller blir fjernet nå.",
	"person.left.action":  "Se personen",

	"review.started.subject":    "Gjennomgang av tilganger i %s",
	"review.started.body":       "Det er startet en gjennomgang av hvem som har tilgang til %s. Du skal vurdere %d tilganger, behold eller fjern, innen %s.",
	"review.started.action":     "Gå gjennom tilgangene",
	"review.reminded.subject":   "Påminnelse: gjennomgang av tilganger i %s",
	"review.reminded.body":      "Du har fortsatt %d tilganger i %s å vurdere. Gjennomgangen avsluttes %s; tilganger som ikke er vurdert da, kan bli fjernet.",
	"review.reminded.action":    "Gå gjennom tilgangene",
	"review.escalated.subject":  "Eskalert: gjennomgang av tilganger i %s",
	"review.escalated.body":     "%d tilganger i %s som %s skal vurdere, er ikke vurdert etter %d arbeidsdager. Gjennomgangen avsluttes %s.",
	"review.escalated.approve":  "Du kan nå vurdere dem selv.",
	"review.escalated.informed": "Du får dette til orientering: følg opp med den som skal vurdere dem.",
	"review.escalated.action":   "Se gjennomgangen",
	"person.moved.subject":      "%s har byttet stilling",
	"person.moved.body":         "%s går fra i dag over fra %s til %s. Tilgangene som bare fulgte den gamle stillingen, fjernes, og det den nye stillingen gir, er bestilt. Se over om personen trenger mer, eller har noe som ikke lenger passer.",
	"person.moved.action":       "Se personen",
	"unit.position":             "%s i %s",

	"no_email.subject": "%s har ingen e-postadresse i Tilgang",
	"no_email.body":    "%s (%s) har ingen e-postadresse i HR-dataene og får derfor ingen e-post fra Tilgang om det som venter. Be HR legge inn adressen, og gi beskjed til personen selv i mellomtiden.",
	"no_email.action":  "Se personen",

	"digest.subject": "%d saker i Tilgang venter på deg eller gjelder deg",
	"digest.body":    "Her er %d saker fra Tilgang samlet i én e-post:",
	"digest.action":  "Se hva som venter på deg",
}

// T is the text of key with args filled in; an unknown key is shown as
// itself, so a missing text is seen, not hidden.
func T(key string, args ...any) string {
	s, ok := nb[key]
	if !ok {
		return key
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// Has says whether the catalogue has key.
func Has(key string) bool { _, ok := nb[key]; return ok }
