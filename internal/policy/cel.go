package policy

import (
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"

	"github.com/ror-ikt/tilgang"
)

// costLimit bounds one evaluation, so a policy cannot loop a worker to a
// halt over a long employments list.
const costLimit = 100_000

// CELEnv is the environment every condition compiles in: the standard
// library, the strings extension, and two variables, person and request,
// both maps from string to any value (see PersonVars).
var CELEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("person", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(),
	)
})

// condition is a compiled eligible or when expression.
type condition struct {
	src string
	prg cel.Program
}

// compileMu serialises compiling: cel-go's type checker races when one Env
// checks comprehensions (exists, all) in several goroutines at once (seen
// under -race with catalogues loaded side by side). Programs evaluate
// concurrently without it.
var compileMu sync.Mutex

// compile checks that src compiles to a bool; the error is one line.
func compile(src string) (*condition, error) {
	env, err := CELEnv()
	if err != nil {
		return nil, err
	}
	compileMu.Lock()
	defer compileMu.Unlock()
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		var msgs []string
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("%s (at %d:%d)", e.Message, e.Location.Line(), e.Location.Column()+1))
		}
		return nil, fmt.Errorf("does not compile: %s", strings.Join(msgs, "; "))
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("must give true or false, but gives a %s (compare it, like person.position == \"lærer\")", t)
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("does not compile: %w", err)
	}
	return &condition{src: src, prg: prg}, nil
}

func (c *condition) eval(person, request map[string]any) (bool, error) {
	act, err := activation(person, request)
	if err != nil {
		return false, err
	}
	return c.evalIn(act)
}

// activation binds person and request once for several conditions.
func activation(person, request map[string]any) (cel.Activation, error) {
	if person == nil {
		person = map[string]any{}
	}
	if request == nil {
		request = map[string]any{}
	}
	return cel.NewActivation(map[string]any{"person": person, "request": request})
}

func (c *condition) evalIn(act cel.Activation) (bool, error) {
	out, _, err := c.prg.Eval(act)
	if err != nil {
		return false, tilgang.Wrap(tilgang.Invalid, err, "policy condition %q", c.src)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, tilgang.Errorf(tilgang.Invalid, "policy condition %q gave %v, not true or false", c.src, out)
	}
	return b, nil
}

// IsEligible reports whether the person may hold the role, by its eligible
// condition; a role without one admits everyone. An error (a missing key, a
// type mismatch, kind Invalid) means it could not be decided: treat it as
// not eligible and say why.
func (r *Role) IsEligible(person, request map[string]any) (bool, error) {
	if r.Eligible == "" {
		return true, nil
	}
	c := r.eligible
	if c == nil { // a Role built by hand, not loaded: compile, but do not write to it
		var err error
		if c, err = compile(r.Eligible); err != nil {
			return false, tilgang.Wrap(tilgang.Invalid, err, "role %s: eligible", r.ID)
		}
	}
	return c.eval(person, request)
}

// Applies reports whether the rule gives its roles to the person. request
// is empty: birthright is not asked for.
func (b Birthright) Applies(person map[string]any) (bool, error) {
	c := b.when
	if c == nil {
		var err error
		if c, err = compile(b.When); err != nil {
			return false, tilgang.Wrap(tilgang.Invalid, err, "birthright when")
		}
	}
	return c.eval(person, nil)
}

// PersonVars is what conditions see as person: id, municipality, org_unit,
// position and manager of the main employment (tilgang.Person.Main), and
// every employment with id, primary, percent, org_unit, position, manager,
// start and end ("YYYY-MM-DD"; end is null while open). Names and e-mail
// are left out: no policy needs them.
func PersonVars(p *tilgang.Person) map[string]any {
	main, _ := p.Main()
	emps := make([]any, 0, len(p.Employments))
	for _, e := range p.Employments {
		var end any
		if !e.End.IsZero() {
			end = e.End.String()
		}
		emps = append(emps, map[string]any{
			"id": e.ID, "primary": e.Primary, "percent": e.Percent, "org_unit": e.OrgUnit,
			"position": e.Position, "manager": e.Manager, "start": e.Start.String(), "end": end,
		})
	}
	return map[string]any{
		"id": p.ID, "municipality": p.Municipality,
		"org_unit": main.OrgUnit, "position": main.Position, "manager": main.Manager,
		"employments": emps,
	}
}
