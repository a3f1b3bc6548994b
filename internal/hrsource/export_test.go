package hrsource

import "net/http"

// The fixtures, for the tests through the sync (package hrsource_test,
// which runs a worker: a package this one may not import).
type (
	FxPerson = fxPerson
	FxEmp    = fxEmp
)

var (
	FxPeople       = fxPeople
	FxSecond       = fxSecond
	FxUnits        = fxUnits
	RenderStamdata = renderStamdata3
	RenderJSON     = renderJSON
	RenderCSV      = renderCSV
	FxCSVConfig    = fxCSVConfig
	SSNOf          = ssnOf
)

// VismaHandler serves people (and future starters) as the HRM web service
// does, for user WS-AD with password pass.
func VismaHandler(people, future []fxPerson, pass string) http.Handler {
	return &vismaServer{people: people, future: future, units: fxUnits, user: "WS-AD", pass: pass}
}

// FINTHandler serves people as FINT's collections, for bearer token tok,
// linking to base.
func FINTHandler(people []fxPerson, tok string, base func() string) http.Handler {
	return FINTEdited(people, tok, base, nil)
}

// FINTEdited is FINTHandler with each collection's entries changed by edit.
func FINTEdited(people []fxPerson, tok string, base func() string, edit func(path string, entries []map[string]any) []map[string]any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(&fintServer{people: people, units: fxUnits, token: tok, base: base(), edit: edit}).ServeHTTP(w, r)
	})
}

// FINTArbeidsforhold is the path of FINT's arbeidsforhold collection.
const FINTArbeidsforhold = fintArbeidsforhold
