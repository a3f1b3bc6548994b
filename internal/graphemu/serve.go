package graphemu

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Serve serves the emulator on ln until ctx ends (for a command such as
// `tilgang graph-emulator --listen 127.0.0.1:8081`); the Graph base URL is
// then http://ADDR/v1.0 and the authority http://ADDR.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}
