#!/usr/bin/env bash
# The React client's build and tests, for the Makefile.
#
#   scripts/frontend.sh build   npm ci (when needed) + build into frontend/dist
#                               (precompressed .br/.zst/.gz; fails if the initial
#                               JS is over 80 KB gzip)
#   scripts/frontend.sh test    vitest (store and list logic)
#   scripts/frontend.sh e2e [FILE...]
#                               browser tests against a private gateway built
#                               from ./caddy (needs Postgres on 127.0.0.1:5432);
#                               FILE is chat, ux, restart, bigroom, lighthouse or security
#                               (default: all). CHATGATE_E2E_TIMING=enforce
#                               turns the printed timings into assertions.
#
# Installs what it needs when missing and running as root: zstd (for .zst
# files) and chromium (for e2e) from Debian.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT/frontend"

apt_install() {
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		echo "frontend: installing $*" >&2
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
	else
		echo "frontend: missing $* (apt-get install $*)" >&2
	fi
}

deps() {
	# npm ci only when package-lock.json changed since the last install.
	if [[ ! -f node_modules/.package-lock.json ]] || ! cmp -s package-lock.json node_modules/.chatgate-lock; then
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
		cp package-lock.json node_modules/.chatgate-lock
	fi
}

case "${1:-}" in
build)
	command -v zstd >/dev/null || apt_install zstd
	deps
	npm run build
	;;
test)
	deps
	npm test
	;;
e2e)
	[[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]] || apt_install chromium
	deps
	[[ -f dist/index.html ]] || npm run build
	npm run e2e -- "${@:2}"
	;;
*)
	echo "usage: scripts/frontend.sh build|test|e2e" >&2
	exit 2
	;;
esac
