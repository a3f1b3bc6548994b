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

	"github.com/ror-ikt/tilgang/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
