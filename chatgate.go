// Package chatgate plugs Chatgate's Caddy modules into a Caddy build:
// xcaddy imports this package (`--with github.com/chatgate/chatgate=.`).
package chatgate

import (
	// The chat app, the chat handler and their Caddyfile directives.
	_ "github.com/chatgate/chatgate/caddymodule"
)
