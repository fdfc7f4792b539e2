#!/usr/bin/env bash
# Builds ./caddy: Caddy with Chatgate's modules, through xcaddy.
# Versions are pinned here and in go.mod so every build is the same binary.
set -euo pipefail
cd "$(dirname "$0")"
CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"
XCADDY_VERSION="v0.4.5"
out="${1:-./caddy}"

# xcaddy builds in a temporary module that requires ours through a replace
# (--with module=.), then runs `go get github.com/chatgate/chatgate`. Our
# module is not published, and a proxy that answers 403 for it (rather than
# 404) makes that lookup fail. With "|" Go falls through on any error, to an
# empty file proxy whose "not found" lets the replace stand; every other
# module still comes from the usual proxy.
empty="$PWD/.bin/emptyproxy"
mkdir -p "$empty"
proxy="$(go env GOPROXY)"
export GOPROXY="${proxy%%,*}|file://$empty"
go run "github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}" build "${CADDY_VERSION}" \
	--output "$out" \
	--with "github.com/chatgate/chatgate=."
