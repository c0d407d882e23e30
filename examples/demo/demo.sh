#!/usr/bin/env bash
# make demo: start the built-in Entra ID emulator, get a token with a
# client-credentials profile through the real plugin, show its claims, the
# cache, a wrong secret, a person signing in on a machine without a
# browser (device code), and, where MIT Kerberos is installed, IWA signing
# a federated user in silently with a ticket from a throwaway KDC.
set -euo pipefail
BIN=${1:-bin}
work=$(mktemp -d)
emu_pid=
kdc_pid=
cleanup() {
	[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null || true
	[ -n "$kdc_pid" ] && kill "$kdc_pid" 2>/dev/null && wait "$kdc_pid" 2>/dev/null || true
	[ -n "${KEEP_DEMO:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# A throwaway KDC on loopback (realm DEMO.LOCAL, user alice, the AD FS
# service HTTP/localhost), if the MIT Kerberos tools are installed.
kerberos=()
PATH=$PATH:/usr/sbin
if command -v krb5kdc kdb5_util kadmin.local kinit >/dev/null 2>&1; then
	port=$(( 20000 + RANDOM % 20000 ))
	cat >"$work/krb5.conf" <<KRB
[libdefaults]
	default_realm = DEMO.LOCAL
	dns_lookup_kdc = false
	dns_lookup_realm = false
	udp_preference_limit = 1
[realms]
	DEMO.LOCAL = {
		kdc = 127.0.0.1:$port
	}
KRB
	cat >"$work/kdc.conf" <<KDC
[kdcdefaults]
	kdc_ports = $port
	kdc_tcp_ports = $port
[realms]
	DEMO.LOCAL = {
		database_name = $work/principal
		key_stash_file = $work/stash
		acl_file = $work/kadm5.acl
	}
KDC
	: >"$work/kadm5.acl"
	export KRB5_CONFIG=$work/krb5.conf KRB5_KDC_PROFILE=$work/kdc.conf KRB5CCNAME=FILE:$work/ccache
	{
		kdb5_util create -s -r DEMO.LOCAL -P "demo-master-$RANDOM"
		kadmin.local -q "addprinc -pw alice-demo-pw alice@DEMO.LOCAL"
		kadmin.local -q "addprinc -randkey HTTP/localhost@DEMO.LOCAL"
		kadmin.local -q "ktadd -k $work/http.keytab HTTP/localhost@DEMO.LOCAL"
	} >"$work/kdc-setup.log" 2>&1 || { echo "KDC setup failed:"; cat "$work/kdc-setup.log"; exit 1; }
	krb5kdc -n -P "$work/kdc.pid" >"$work/kdc.log" 2>&1 &
	kdc_pid=$!
	for _ in $(seq 50); do
		echo alice-demo-pw | kinit alice@DEMO.LOCAL >/dev/null 2>&1 && break
		sleep 0.2
	done
	kerberos=(--federation-host localhost --kerberos-keytab "$work/http.keytab" --federated-user alice@demo.local)
fi

echo "== starting the emulator (HTTPS on loopback)"
"$BIN/credhost" emulator --ca-file "$work/ca.pem" --url-file "$work/url" \
	--auto-approve-after 3s --device-code-interval 1s "${kerberos[@]}" &
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

# A laptop: Kerberos (IWA) if there is a ticket, else a browser sign-in if
# there is a browser, else a device code.
[profiles.laptop]
authority = "$url/72f988bf-0000-4000-8000-000000000001"
client_id = "0c1e7c11-0000-4000-8000-0000000c11e7"
chain     = ["iwa", "authcode", "devicecode"]
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

if ((${#kerberos[@]})); then
	echo
	echo "== alice has a Kerberos ticket (klist):"
	klist 2>/dev/null | sed -n '1,5p'
	echo "== IWA signs her in silently: no prompt, no browser"
	"$BIN/credhost" token --config "$work/config.toml" --profile laptop \
		--scope https://graph.microsoft.com/.default --output claims | grep -E '"(upn|amr|name)"' || true
	"$BIN/credhost" logout --config "$work/config.toml" --profile laptop
fi

echo
echo "== a person with no ticket and no browser: iwa and authcode are unavailable, device code signs in"
echo "   (the emulator approves the code after 3 s, as if alice had entered it)"
env -u DISPLAY -u WAYLAND_DISPLAY -u BROWSER KRB5CCNAME=FILE:$work/no-ticket \
	"$BIN/credhost" login --config "$work/config.toml" --profile laptop --log-level info 2>&1 |
	grep -E 'unavailable|To sign in|signed in' | sed -E 's/^\{.*"error":"([^"]*)".*/  \1/' || true
echo
echo "== the next token for the laptop profile is silent"
KRB5CCNAME=FILE:$work/no-ticket "$BIN/credhost" token --config "$work/config.toml" --profile laptop --scope https://graph.microsoft.com/.default --output json |
	sed -E 's/("access_token": ")[^"]*/\1[not shown in the demo]/'
echo
echo "== credhost accounts"
"$BIN/credhost" accounts --config "$work/config.toml"
echo
echo "== credhost cache info"
"$BIN/credhost" cache info --config "$work/config.toml"
echo
echo "== done; stopping the emulator"
