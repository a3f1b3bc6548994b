package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Reconcile is the worker's reconciliation schedule (DESIGN.md
// "Reconciliation"):
//
//	reconcile:
//	  every: 24h     # reconcile every system this often (the active replica); 0 or absent: only on command
//	  fix: false     # true: fix what the systems' reconcile: settings allow, as `tilgang reconcile --fix`
//
// A scheduled run never passes the removal threshold: a run it holds waits
// for `tilgang reconcile --fix --allow-removals N`.
type Reconcile struct {
	Every time.Duration `yaml:"every"`
	Fix   bool          `yaml:"fix"`
}

// MinReconcileEvery is the shortest schedule accepted: each run reads
// every target in full.
const MinReconcileEvery = 10 * time.Minute

// UnmarshalYAML reads the block strictly and checks the schedule.
func (r *Reconcile) UnmarshalYAML(n *yaml.Node) error {
	type plain Reconcile
	var p plain
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("reconcile must be a mapping {every: 24h, fix: false}")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; k != "every" && k != "fix" {
			return fmt.Errorf("reconcile: unknown key %q (known: every, fix)", k)
		}
	}
	if err := n.Decode(&p); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if p.Every < 0 || (p.Every > 0 && p.Every < MinReconcileEvery) {
		return fmt.Errorf("reconcile.every %s is shorter than %s: each run reads every target in full", p.Every, MinReconcileEvery)
	}
	*r = Reconcile(p)
	return nil
}
