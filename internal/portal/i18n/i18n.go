// Package i18n is the portal's message catalogue: every text a person reads
// in the portal, in Norwegian bokmål, by key. Another language is another
// map with the same keys (TestCatalogueComplete checks that every key
// the portal names is here).
// Arguments are filled in with fmt verbs; html/template escapes the result.
package i18n

import "fmt"

// Lang is the language of the texts, for <html lang>.
const Lang = "nb"

// nb is bokmål.
var nb = map[string]string{
	"app.name":       "Tilgang",
	"app.dev":        "Utviklingsmodus: innloggingen her er bare for testing på denne maskinen.",
	"nav.skip":       "Hopp til hovedinnhold",
	"nav.home":       "Hva venter på meg",
	"nav.approvals":  "Godkjenninger",
	"nav.main":       "Hovedmeny",
	"nav.signedinas": "Logget inn som %s",
	"nav.signout":    "Logg ut",

	"signin.title":       "Logg inn",
	"signin.intro":       "Logg inn med kommunens konto for å be om, godkjenne og se tilganger.",
	"signin.oidc":        "Logg inn med kommunens konto",
	"signin.dev.title":   "Velg hvem du vil logge inn som",
	"signin.dev.person":  "Person",
	"signin.dev.help":    "Personene tilgang kjenner fra HR.",
	"signin.dev.submit":  "Logg inn",
	"signin.dev.none":    "Tilgang kjenner ingen personer ennå. Importer noen med «tilgang hr import».",
	"signin.unavailable": "Innlogging er ikke satt opp for denne tjenesten.",
	"signin.failed":      "Innloggingen mislyktes. Prøv igjen.",
	"signin.provider":    "Innloggingstjenesten svarer ikke akkurat nå. Prøv igjen om litt.",
	"signedout.title":    "Du er logget ut",
	"signedout.body":     "Du er logget ut av Tilgang.",
	"signedout.again":    "Logg inn igjen",

	"home.title":            "Hva venter på meg",
	"home.approvals":        "Godkjenninger som venter på deg",
	"home.approvals.none":   "Ingen godkjenninger venter på deg.",
	"home.approvals.link":   "Gå til godkjenningene",
	"home.training":         "Opplæring å bekrefte",
	"home.training.none":    "Ingen venter på bekreftet opplæring i systemer du forvalter.",
	"home.tasks":            "Manuelle oppgaver",
	"home.tasks.none":       "Ingen manuelle oppgaver venter på deg.",
	"home.sent":             "Det er sendt.",
	"home.training.confirm": "Bekreft opplæring",
	"home.training.label":   "Bekreft opplæring for %s i %s (%s)",
	"home.tasks.done":       "Utført",
	"home.tasks.failed":     "Kunne ikke gjøres",
	"home.tasks.comment":    "Kommentar til oppgave %s",
	"home.access":           "Mine tilganger",
	"home.access.none":      "Du har ingen tilganger registrert i Tilgang.",

	"col.person":    "Person",
	"col.system":    "System",
	"col.role":      "Rolle",
	"col.state":     "Status",
	"col.requester": "Bestilt av",
	"col.since":     "Siden",
	"col.until":     "Gyldig til",
	"col.task":      "Oppgave",
	"col.what":      "Hva",
	"col.who":       "Hvem",
	"col.when":      "Når",
	"col.details":   "Detaljer",
	"col.action":    "Handling",

	"request.title":   "Bestilling",
	"request.state":   "Status",
	"request.why":     "Begrunnelse fra Tilgang",
	"request.history": "Historikk",
	"request.grant":   "Tilgang",
	"request.nohist":  "Ingen historikk å vise.",
	"request.about":   "%s i %s for %s",
	"request.via":     "%s (via %s)",

	"nav.new":            "Be om tilgang",
	"new.title":          "Be om tilgang",
	"new.person":         "Hvem gjelder det?",
	"new.person.help":    "Personens id, for eksempel 1547-10234. Du kan be for deg selv og for dine ansatte.",
	"new.show":           "Vis hva som kan bestilles",
	"new.plan":           "Hva Tilgang vil avgjøre for %s",
	"new.plan.intro":     "Planen viser for hver rolle om den kan bestilles, hvem som må godkjenne, om opplæring kreves og hvor lenge tilgangen varer. Ingenting er sendt ennå.",
	"new.none":           "Ingen roller å vise.",
	"new.allowed":        "Kan bestilles",
	"new.refused":        "Avslås: %s",
	"new.stages":         "Godkjennes av: %s",
	"new.nostages":       "Trenger ingen godkjenning.",
	"new.training":       "Krever bekreftet opplæring.",
	"new.end":            "Varer til og med %s.",
	"new.shortened":      "Forkortet til rollens lengste varighet.",
	"new.open":           "Det finnes allerede en åpen tilgang (%s); en ny bestilling knyttes til den.",
	"new.reason":         "Begrunnelse",
	"new.reason.help":    "Hvorfor trengs tilgangen? Påkrevd.",
	"new.until":          "Siste dag (valgfritt)",
	"new.until.help":     "Dato som ÅÅÅÅ-MM-DD. Tom: rollens vanlige varighet.",
	"new.submit":         "Send bestilling",
	"new.error.person":   "Skriv en gyldig person-id.",
	"new.error.notyours": "Du kan ikke be om tilgang for %s, eller personen finnes ikke.",
	"new.error.reason":   "Skriv hvorfor tilgangen trengs.",
	"new.error.until":    "Siste dag må være en dato (ÅÅÅÅ-MM-DD) som ikke har vært.",
	"error.403.denied":   "Bestillingen ble avslått: %s",

	"person.title":   "%s",
	"person.grants":  "Tilganger",
	"person.none":    "Ingen tilganger du kan se.",
	"person.history": "Historikk",
	"person.more":    "Viser de siste %d hendelsene.",
	"home.history":   "Min historikk",

	"approvals.title":        "Godkjenninger",
	"approvals.none":         "Ingen godkjenninger venter på deg.",
	"approvals.for":          "%s ber om rollen %s i %s for %s",
	"approvals.reason":       "Begrunnelse",
	"approvals.comment":      "Kommentar",
	"approvals.comment.help": "Påkrevd når du avslår: si hvorfor.",
	"approvals.approve":      "Godkjenn",
	"approvals.deny":         "Avslå",
	"approvals.sent":         "Avgjørelsen er sendt.",
	"approvals.error.title":  "Det er en feil i skjemaet",
	"approvals.error.deny":   "Skriv hvorfor du avslår.",
	"approvals.error.long":   "Kommentaren er for lang.",

	"state.pending_approval": "Venter på godkjenning",
	"state.pending_training": "Venter på opplæring",
	"state.provisioning":     "Tildeles",
	"state.active":           "Aktiv",
	"state.failed":           "Feilet",
	"state.revoking":         "Fjernes",
	"state.revoked":          "Fjernet",
	"state.revoke_failed":    "Fjerning feilet",
	"state.denied":           "Avslått",
	"state.cancelled":        "Avbrutt",
	"state.expired":          "Utløpt",
	"state.rejected":         "Avvist",
	"state.accepted":         "Mottatt",
	"state.ignored":          "Ignorert",
	"state.unknown":          "Ikke registrert ennå",

	"kind.ensure_account": "Opprette eller oppdatere konto",
	"kind.enable":         "Aktivere konto",
	"kind.disable":        "Deaktivere konto",
	"kind.grant":          "Gi tilgang",
	"kind.revoke":         "Fjerne tilgang",

	"error.title":           "Noe gikk galt",
	"error.back":            "Gå til forsiden",
	"error.400.title":       "Forespørselen kan ikke brukes",
	"error.400.body":        "Adressen eller skjemaet inneholder noe Tilgang ikke kan bruke.",
	"error.403.title":       "Du har ikke tilgang til dette",
	"error.403.body":        "Du kan ikke se eller gjøre dette med kontoen du er logget inn med.",
	"error.403.origin":      "Skjemaet ble sendt fra en annen nettside, og Tilgang tar ikke imot det. Gå til Tilgang og prøv igjen derfra.",
	"error.403.signedout":   "Du er ikke logget inn, eller økten er utløpt. Logg inn og prøv igjen.",
	"error.403.devonly":     "Utviklingsinnloggingen kan bare brukes fra denne maskinen.",
	"error.403.notapprover": "Du er ikke den som skal godkjenne dette trinnet, eller du har bestilt eller selv skal ha tilgangen.",
	"error.403.refused":     "Tilgang avviste det du sendte: %s",
	"error.403.nottraining": "Denne opplæringen venter ikke på deg: du forvalter ikke systemet, eller det gjelder deg selv.",
	"error.403.nottask":     "Denne oppgaven venter ikke på deg: du forvalter ikke systemet den hører til.",
	"error.404.title":       "Siden finnes ikke",
	"error.404.body":        "Vi finner ikke siden du ba om. Sjekk adressen.",
	"error.405.title":       "Dette kan ikke gjøres her",
	"error.405.body":        "Siden tar ikke imot denne typen forespørsel.",
	"error.500.title":       "Noe gikk galt hos oss",
	"error.500.body":        "Tilgang klarte ikke å svare. Prøv igjen om litt; hvis feilen varer, kontakt IT-tjenesten.",
	"error.503.title":       "Tilgang svarer ikke akkurat nå",
	"error.503.body":        "Tjenesten bak portalen svarer ikke. Prøv igjen om litt.",
	"error.noperson.title":  "Vi finner deg ikke",
	"error.noperson.body":   "Ingen person i Tilgang hører til kontoen du logget inn med. Kontakt HR eller IT-tjenesten.",
	"error.left.title":      "Du har sluttet",
	"error.left.body":       "Ifølge HR har du sluttet, og du kan ikke lenger bruke Tilgang.",
}

// T is the text for key with args filled in; a missing key shows as
// [key], which the tests catch.
func T(key string, args ...any) string {
	s, ok := nb[key]
	if !ok {
		return "[" + key + "]"
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// Has reports whether the catalogue holds key.
func Has(key string) bool {
	_, ok := nb[key]
	return ok
}
