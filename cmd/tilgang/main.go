// Command tilgang provisions people into the systems of the municipalities
// that share one IT service; see internal/cli for the command line.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	// Oslo dates must work on machines without a zoneinfo database.
	_ "time/tzdata"

	"github.com/ror-ikt/tilgang/connectors/entra"
	"github.com/ror-ikt/tilgang/internal/cli"
	"github.com/ror-ikt/tilgang/internal/config"
)

func init() {
	// Microsoft Graph's models compile for minutes: only the binary pulls
	// the entra connector in, so no other package's tests pay for it.
	config.RegisterTypes(entra.Register)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
