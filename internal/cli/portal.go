package cli

import (
	"github.com/ror-ikt/tilgang/internal/config"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// portalOptions are the portal's options from the config's portal
// section; nil when it has none.
func portalOptions(cfg *config.Config) (*portal.Options, error) {
	pc := cfg.Portal
	if pc == nil {
		return nil, nil
	}
	key, err := principals.LoadSeed(pc.Key)
	if err != nil {
		return nil, err
	}
	o := &portal.Options{Key: key, ID: principals.PortalID, PublicURL: pc.PublicURL,
		OIDC: &portal.OIDC{Issuer: pc.OIDC.Issuer, ClientID: pc.OIDC.ClientID, ClientSecret: cfg.ClientSecret(), PersonClaim: pc.OIDC.PersonClaim}}
	for _, f := range pc.SessionKeys {
		k, err := config.ReadSessionKey(f)
		if err != nil {
			return nil, err
		}
		o.SessionKeys = append(o.SessionKeys, k)
	}
	return o, nil
}
