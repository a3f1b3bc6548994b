package config

import (
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/ror-ikt/tilgang/internal/streams"
)

// NATSOptions are the connection options nats.url's servers need: the
// client name (tilgang-worker <name>), credentials or nkey, and TLS.
func (c *Config) NATSOptions() ([]nats.Option, error) {
	opts := []nats.Option{nats.Name("tilgang-worker " + c.Name)}
	switch {
	case c.NATS.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.NATS.CredsFile))
	case c.NATS.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NATS.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats.nkey_seed_file: %s cannot be used as an nkey seed", c.NATS.NKeySeedFile)
		}
		opts = append(opts, o)
	}
	if c.NATS.TLS.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.NATS.TLS.CAFile))
	}
	if c.NATS.TLS.CertFile != "" {
		opts = append(opts, nats.ClientCert(c.NATS.TLS.CertFile, c.NATS.TLS.KeyFile))
	}
	return opts, nil
}

// StreamOptions are the JetStream stream settings this config asks for.
func (c *Config) StreamOptions() streams.Options {
	return streams.Options{Replicas: c.NATS.StreamReplicas}
}
