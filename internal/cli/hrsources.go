package cli

import (
	"bytes"
	"fmt"
	"os"
	"sort"

	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/config"
	"github.com/ror-ikt/tilgang/internal/hrsync"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// hrSourceRuns are the worker's scheduled HR sources (config hr_sources
// with a schedule): each run opens its source and reads its file afresh.
func hrSourceRuns(cfg *config.Config) ([]app.HRSourceRun, error) {
	names := make([]string, 0, len(cfg.HRSources))
	for n := range cfg.HRSources {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []app.HRSourceRun
	for _, name := range names {
		src := cfg.HRSources[name]
		if src.Schedule.Every == 0 && len(src.Schedule.Daily) == 0 {
			continue // run by hand only: `tilgang hr sync --source NAME`
		}
		kp, err := principals.LoadSeed(src.Key)
		if err != nil {
			return nil, fmt.Errorf("hr_sources.%s.key: %w", name, err)
		}
		client, err := src.HTTPClient()
		if err != nil {
			return nil, fmt.Errorf("hr_sources.%s.ca_file: %w", name, err)
		}
		out = append(out, app.HRSourceRun{Name: name, Every: src.Schedule.Every, Daily: src.Schedule.Daily, Key: kp,
			Actor: src.Actor(), Prepare: func() (hrsync.Options, error) {
				s, err := src.Config.Open()
				if err != nil {
					return hrsync.Options{}, err
				}
				o := hrsync.Options{Source: s, MaxLeaveShare: src.FailSafe.MaxLeaveShare,
					MaxChangeShare: src.FailSafe.MaxChangeShare, DaysBeforeStart: src.Days(), Wait: src.WaitOrDefault()}
				o.Input.Client = client
				if src.File != "" {
					data, err := os.ReadFile(src.File)
					if err != nil {
						return hrsync.Options{}, fmt.Errorf("read %s: %w", src.File, err)
					}
					o.Input.File = bytes.NewReader(data)
				}
				return o, nil
			}})
	}
	return out, nil
}
