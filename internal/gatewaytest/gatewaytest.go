// Package gatewaytest starts an in-process gateway (a core, its API and an
// httptest server) for tests outside chatcore/gateway, and stops it when
// the test ends. The gateway's own tests cannot import it (it imports the
// gateway) and keep their startInstance.
package gatewaytest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatcore/gateway"
)

// Start builds and starts a core from cfg and serves its API from an
// httptest server; all three end with the test.
func Start(t testing.TB, cfg gateway.Config, api gateway.APIConfig) (*gateway.Core, *httptest.Server) {
	t.Helper()
	core, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := core.Start(ctx); err != nil {
		t.Fatal(err)
	}
	a := gateway.NewAPI(core, api)
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
		srv.Close()
		_ = core.Stop(ctx)
	})
	return core, srv
}
