// Package tilgang holds the domain types that every other package speaks:
// people and their employments as HR delivers them, grant states, event
// kinds and the one classified error type. It imports nothing of the project.
//
// The packages around it follow one technology or concept each: the
// envelope decoder, the principals file, the policy catalogue, the ledger,
// the engine that applies messages, intake, executor and the connectors.
package tilgang

import (
	"regexp"
	"time"
	// Oslo is loaded while packages initialise, before main's imports
	// may have registered the embedded zoneinfo: embed it here.
	_ "time/tzdata"
)

// Oslo is the time zone every calendar date in tilgang is read in.
var Oslo = mustLoadOslo()

func mustLoadOslo() *time.Location {
	loc, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		panic("tilgang: cannot load Europe/Oslo (embed time/tzdata in main): " + err.Error())
	}
	return loc
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ValidToken reports whether s can be one NATS subject token naming a
// person, system or role: letters, digits, '-' and '_'.
func ValidToken(s string) bool { return tokenRE.MatchString(s) }
