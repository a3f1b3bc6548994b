package policy

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Reconcile is a system's `reconcile:` settings (DESIGN.md
// "Reconciliation"):
//
//	reconcile:
//	  extra: report        # a member no live grant explains: report (default) | revoke | review
//	  orphan: report       # an enabled account of a leaver or unknown person: report (default) | disable
//	  max_removals: 10     # a run removing more (revokes and disables) holds (default 10)
//	  max_share: 5%        # ... or more than this share of the accounts read (default 5%)
//
// A run that would remove more holds (reconcile.held) and removes nothing
// unless `tilgang reconcile --allow-removals N` allows N.
type Reconcile struct {
	Extra       string  // report | revoke | review
	Orphan      string  // report | disable
	MaxRemovals int     // at least 0
	MaxShare    float64 // 0..1
	Line        int     // where the settings start, 0 when the defaults apply
}

// Reconcile settings' values.
const (
	ReconcileReport  = "report"
	ReconcileRevoke  = "revoke"
	ReconcileReview  = "review"
	ReconcileDisable = "disable"
)

// DefaultReconcile is what a system without reconcile: gets: findings are
// reported, and a run removing more than 10, or 5 % of the accounts, holds.
var DefaultReconcile = Reconcile{Extra: ReconcileReport, Orphan: ReconcileReport, MaxRemovals: 10, MaxShare: 0.05}

var reconcileKeys = []string{"extra", "orphan", "max_removals", "max_share"}

func (p *parser) reconcile(n *yaml.Node) Reconcile {
	r := DefaultReconcile
	n = deref(n)
	r.Line = n.Line
	if isNull(n) {
		return r
	}
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, "reconcile must be a mapping (extra:, orphan:, max_removals:, max_share:), not %s", kindName(n))
		return r
	}
	f := p.mapping(n, "reconcile", reconcileKeys)
	oneOf := func(key string, allowed ...string) (string, bool) {
		fl, ok := f[key]
		if !ok {
			return "", false
		}
		v, ok := p.str(fl.val, "reconcile."+key)
		if !ok {
			return "", false
		}
		for _, a := range allowed {
			if v == a {
				return v, true
			}
		}
		p.add(fl.val.Line, "reconcile.%s %q is not one of %s", key, v, strings.Join(allowed, ", "))
		return "", false
	}
	if v, ok := oneOf("extra", ReconcileReport, ReconcileRevoke, ReconcileReview); ok {
		r.Extra = v
	}
	if v, ok := oneOf("orphan", ReconcileReport, ReconcileDisable); ok {
		r.Orphan = v
	}
	if fl, ok := f["max_removals"]; ok {
		if v, ok := p.str(fl.val, "reconcile.max_removals"); ok {
			k, err := strconv.Atoi(v)
			if err != nil || k < 0 {
				p.add(fl.val.Line, "reconcile.max_removals %q must be a whole number, 0 or more", v)
			} else {
				r.MaxRemovals = k
			}
		}
	}
	if fl, ok := f["max_share"]; ok {
		if v, ok := p.str(fl.val, "reconcile.max_share"); ok {
			num, pct := strings.CutSuffix(strings.TrimSpace(v), "%")
			x, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if pct {
				x /= 100
			}
			if err != nil || x < 0 || x > 1 {
				p.add(fl.val.Line, "reconcile.max_share %q must be a share from 0%% to 100%% (e.g. 5%%) or 0..1", v)
			} else {
				r.MaxShare = x
			}
		}
	}
	return r
}
