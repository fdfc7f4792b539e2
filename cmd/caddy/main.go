// Command caddy is Caddy with Chatgate's modules, built from this module's
// own go.mod. xcaddy.sh makes the release binary; this main keeps Caddy's
// command packages in our module graph so that build can run offline, and
// lets tests build the same binary with `go build ./cmd/caddy`.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/chatgate/chatgate"
)

func main() {
	caddycmd.Main()
}
