#!/usr/bin/env bash
# make demo: start the built-in Entra ID emulator, get a token with a
# client-credentials profile through the real plugin, show its claims, show
# what a wrong secret looks like, stop the emulator.
set -euo pipefail
BIN=${1:-bin}
work=$(mktemp -d)
emu_pid=
cleanup() {
	[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== starting the emulator (HTTPS on loopback)"
"$BIN/credhost" emulator --ca-file "$work/ca.pem" --url-file "$work/url" \
	--auto-approve-after 3s --device-code-interval 1s &
emu_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
[ -s "$work/url" ] || { echo "the emulator did not start" >&2; exit 1; }
url=$(cat "$work/url")

cat >"$work/config.toml" <<TOML
[profiles.demo]
authority = "$url/72f988bf-0000-4000-8000-000000000001"
client_id = "11111111-1111-4111-8111-111111111111"
chain     = ["clientcreds"]
ca_file   = "$work/ca.pem"

[profiles.demo.clientcreds]
client_secret = "env:DEMO_CLIENT_SECRET"   # a reference: secrets never sit in the file

# A laptop: a browser sign-in if there is a browser, else a device code.
[profiles.laptop]
authority = "$url/organizations"
client_id = "0c1e7c11-0000-4000-8000-0000000c11e7"
chain     = ["authcode", "devicecode"]
ca_file   = "$work/ca.pem"

[cache]
path = "$work/cache.bin"   # encrypted; the key file is created beside it
TOML
echo "== config ($work/config.toml)"
cat "$work/config.toml"

echo
echo "== credhost token --profile demo --scope https://graph.microsoft.com/.default --output claims"
DEMO_CLIENT_SECRET=demo-secret-value "$BIN/credhost" token --config "$work/config.toml" --profile demo \
	--scope https://graph.microsoft.com/.default --output claims

echo
echo "== again: answered from the encrypted cache, no plugin started, no IdP request"
time DEMO_CLIENT_SECRET=demo-secret-value "$BIN/credhost" token --config "$work/config.toml" --profile demo \
	--scope https://graph.microsoft.com/.default >/dev/null

echo
echo "== a wrong secret, bypassing the cache (exit code 1: the IdP refused)"
set +e
DEMO_CLIENT_SECRET=not-the-secret "$BIN/credhost" token --config "$work/config.toml" --profile demo \
	--scope https://graph.microsoft.com/.default --force-refresh
echo "exit code: $?"
set -e

echo
echo "== a person on a machine without a browser: authcode is unavailable, device code signs in"
echo "   (the emulator approves the code after 3 s, as if alice had entered it)"
env -u DISPLAY -u WAYLAND_DISPLAY -u BROWSER "$BIN/credhost" login --config "$work/config.toml" --profile laptop --log-level info 2>&1 |
	grep -v '"level":"debug"' || true
echo
echo "== the next token for the laptop profile is silent"
"$BIN/credhost" token --config "$work/config.toml" --profile laptop --scope https://graph.microsoft.com/.default --output json |
	sed -E 's/("access_token": ")[^"]*/\1[not shown in the demo]/'
echo
echo "== credhost accounts"
"$BIN/credhost" accounts --config "$work/config.toml"
echo
echo "== credhost cache info"
"$BIN/credhost" cache info --config "$work/config.toml"
echo
echo "== done; stopping the emulator"
