package i18n

// The access register's texts (the portal's register pages), kept beside
// the catalogue and added to it at start.
var nbRegister = map[string]string{
	"register.system.title":        "Tilgangsregister for %s",
	"register.person.title":        "Tilgangsregister for %s",
	"register.system.intro":        "Hvem som har hatt hvilken rolle i systemet, når, hvem som bestilte og hvem som godkjente. Fra er når tilgangen ble gitt i systemet, til er når den ble fjernet der.",
	"register.person.intro":        "Hvilke roller personen har hatt, når, hvem som bestilte og hvem som godkjente. Fra er når tilgangen ble gitt i systemet, til er når den ble fjernet der.",
	"register.back.system":         "Tilbake til siden for %s",
	"register.back.person":         "Tilbake til siden for %s",
	"register.when":                "Tidspunkt",
	"register.at":                  "Dato",
	"register.at.help":             "Alle som hadde tilgang en eller annen gang denne dagen. Tomt: nå.",
	"register.period.help":         "Eller en periode: alle som hadde tilgang en eller annen gang i perioden, begge dager medregnet.",
	"register.show":                "Vis registeret",
	"register.csv":                 "Last ned som CSV (hele registeret for dette tidspunktet)",
	"register.from":                "Fra",
	"register.until":               "Til",
	"register.grant":               "Tilgangs-id",
	"home.register":                "Mitt tilgangsregister: hvilke tilganger jeg har hatt, og når",
	"register.held":                "Har fortsatt tilgang",
	"register.none":                "Ingen hadde tilgang på dette tidspunktet.",
	"register.period.at":           "Tilganger %s",
	"register.period.day":          "Tilganger %s",
	"register.period.range":        "Tilganger fra og med %s til og med %s",
	"register.error.both":          "Fyll inn enten én dato eller en periode, ikke begge.",
	"register.error.pair":          "En periode trenger både fra og med-dato og til og med-dato.",
	"register.error.future":        "Datoen kan ikke være etter i dag: registeret viser hvem som har hatt og har tilgang.",
	"register.error.time":          "Tidspunktet kan ikke brukes. Skriv datoen som ÅÅÅÅ-MM-DD.",
	"register.error.export":        "Tidspunktet inneholder noe Tilgang ikke kan bruke. Gå tilbake til registeret og rett det.",
	"system.register":              "Tilgangsregister: hvem har hatt tilgang, og når",
	"person.register":              "Tilgangsregister: hvilke tilganger personen har hatt, og når",
	"error.403.notregister":        "Tilgangsregisteret for %s er bare for systemets systemansvarlige, driftsoperatører og revisorer.",
	"error.403.notregister.person": "Tilgangsregisteret for %s er bare for personen selv, nærmeste leder, driftsoperatører og revisorer.",
}

func init() {
	for k, v := range nbRegister {
		if _, ok := nb[k]; ok {
			panic("i18n: register text " + k + " is in the catalogue twice")
		}
		nb[k] = v
	}
}
