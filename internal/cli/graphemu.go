package cli

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang/internal/graphemu"
)

// runGraphEmulator serves the Microsoft Graph v1.0 emulator, so an entra
// connector configuration can be tried without a tenant: point its
// graph_url at http://ADDR/v1.0 and its authority at http://ADDR.
func runGraphEmulator(e *env, cmd *command, args []string) error {
	fs := e.flags(cmd)
	listen := fs.String("listen", "127.0.0.1:8081", "host:port (`ADDR`) to serve on")
	groups := fs.String("groups", "", "comma-separated display `NAMES` of security groups to create at start")
	budget := fs.Int("budget", 0, "requests allowed per 10 s before 429 with Retry-After (`N`; 0: unlimited)")
	delay := fs.Duration("replication-delay", 0, "how long a new object reads as 404 (`DURATION`)")
	if _, err := e.parse(cmd, fs, args, 0, 0); err != nil {
		return err
	}
	if *budget < 0 {
		return usagef(cmd, "--budget %d must not be negative", *budget)
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return usagef(cmd, "--listen %q: %v", *listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usagef(cmd, "--listen %q: the emulator serves on a loopback address only", *listen)
	}
	srv := graphemu.New(graphemu.Options{Faults: graphemu.Faults{Budget: *budget, Window: 10 * time.Second, ReplicationDelay: *delay}})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("graph-emulator: %v", err)}
	}
	addr := ln.Addr().String()
	fmt.Fprintf(e.Stdout, "graph emulator: graph_url http://%s/v1.0, authority http://%s (any client id and secret)\n", addr, addr)
	for _, name := range strings.Split(*groups, ",") {
		if name = strings.TrimSpace(name); name != "" {
			fmt.Fprintf(e.Stdout, "group %q: %s\n", name, srv.AddGroup(name, false))
		}
	}
	if err := srv.Serve(e.ctx, ln); err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("graph-emulator: %v", err)}
	}
	return nil
}
