// Package app wires tilgang's parts into a running process: the embedded
// `tilgang dev` (in-process NATS, SQLite, intake, executor, publisher, API,
// health endpoints) and, later, the distributed `tilgang worker`.
package app

import (
	"context"
	"log/slog"
)

// DevOptions configure `tilgang dev`.
type DevOptions struct {
	Data       string // data directory, default ./.tilgang
	Policies   string // catalogue directory, default policies/
	NATSListen string // default 127.0.0.1:4223
	HTTP       string // health endpoints, default 127.0.0.1:8480
	Log        *slog.Logger
	// Ready, when set, is called once everything listens, with the NATS URL.
	Ready func(natsURL, httpAddr string)
}

// Dev runs the embedded default until ctx is cancelled, then drains.
func Dev(ctx context.Context, o DevOptions) error {
	return runDev(ctx, o)
}
