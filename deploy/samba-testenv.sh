#!/usr/bin/env bash
# A throw-away Samba Active Directory domain controller for the ad connector's
# tests: domain ROR.TEST, no DNS, only the LDAP service, on 127.0.0.1 only.
#
#   bash deploy/samba-testenv.sh start   # install, provision, start; wait for LDAPS; print the env
#   bash deploy/samba-testenv.sh env     # print the env file (the password redacted)
#   bash deploy/samba-testenv.sh stop    # end the DC this script started (by its PID)
#   bash deploy/samba-testenv.sh wipe    # stop, then remove the directory this script created
#
# Everything lives in one directory, TILGANG_SAMBA_DIR (default /var/tmp/tilgang-samba). The script
# creates it with a marker file and refuses to act on a directory without that marker, so it never
# touches a domain it did not create. The system's /etc/samba is left alone: provisioning writes its
# own smb.conf into the directory and every samba call names it.
#
# start is idempotent: with the DC up it only checks that an LDAPS bind answers; with the directory
# provisioned but the process gone (a reboot, a kill) it starts the DC again; otherwise it installs the
# Debian packages (apt-get update only when an install fails without it), provisions, and starts.
#
# The env file ($DIR/env, mode 0600) holds what the tests read:
#   TILGANG_AD_URL=ldaps://127.0.0.1:636, TILGANG_AD_CA_FILE, TILGANG_AD_BIND_DN, TILGANG_AD_BIND_UPN,
#   TILGANG_AD_BIND_PASSWORD, TILGANG_AD_BIND_PASSWORD_FILE, TILGANG_AD_BASE_DN
# Tests find it at $TILGANG_AD_ENV_FILE, else at the default path.
#
# Organisational units made at provisioning: OU=ROR,DC=ror,DC=test with one OU per municipality
# below it (TILGANG_SAMBA_MUNICIPALITIES, default the ROR-IKT members), OU=Groups,DC=ror,DC=test
# and OU=Deaktivert,DC=ror,DC=test (where leavers' accounts go). Every start also makes the AD groups
# the example catalogue in policies/ names (CATALOGUE_GROUPS, under OU=Groups), those missing only;
# connectors/ad TestCatalogueGroupsExist fails when the catalogue names a group this list lacks.
#
# Measured on the 2-core Debian 12 machine (Samba 4.17.12, times as the script prints them):
#   cold start, packages not installed:  15 s (apt-get install of the nine packages from the Debian
#                                         mirror, their libraries already present; provision; start)
#   cold start, packages installed:      5-12 s (provision 4-10 s, start and LDAPS answering ~1 s, OUs)
#   start after a reboot or a kill:      1-3 s
#   start with the DC up:                0.02 s
#   the whole CI run from a clean clone (CI=true bash .ci/run), Samba cold: 2 min 41 s
set -euo pipefail

DIR="${TILGANG_SAMBA_DIR:-/var/tmp/tilgang-samba}"
MARKER="$DIR/.tilgang-samba-testenv"
PIDFILE="$DIR/run/testenv-samba.pid"
ENVFILE="$DIR/env"
REALM=ROR.TEST
BASE="DC=ror,DC=test"
MUNICIPALITIES="${TILGANG_SAMBA_MUNICIPALITIES:-1506 1535 1539 1547 1557 1579}"
# The groups policies/*.yaml name in their ad entitlements (CN=<name>,OU=Groups,DC=ror,DC=test).
CATALOGUE_GROUPS="APP-Gerica-Bruker APP-Gerica-Superbruker APP-Gerica-Admin
	APP-VismaHRM-Ansatt APP-VismaHRM-Leder APP-VismaHRM-Lonn APP-VismaHRM-Attestant APP-VismaHRM-Admin
	APP-CosDoc-Bruker APP-CosDoc-Merkantil APP-CosDoc-Admin
	APP-P360-Saksbehandler APP-P360-Leder APP-P360-Arkivar APP-P360-Admin
	APP-Familia-Bruker APP-Familia-Admin"
PACKAGES="samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind python3-samba krb5-user ldap-utils openssl"

TESTENV=samba-testenv
. "$(dirname "$0")/lib/testenv.sh"


# The PID of the DC this script started, if it still runs.
running_pid() {
	[ -f "$PIDFILE" ] || return 1
	local pid
	pid="$(cat "$PIDFILE")"
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	# A recycled PID must not be taken for ours. Samba overwrites its command line ("samba: root
	# process"), so the proof is the pid file Samba itself writes into our directory.
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = samba ] || return 1
	[ "$(cat "$DIR/run/samba.pid" 2>/dev/null)" = "$pid" ] || return 1
	echo "$pid"
}

ldaps_answers() {
	LDAPTLS_CACERT="$DIR/tls-cert.pem" timeout 5 ldapsearch -H ldaps://127.0.0.1:636 -x \
		-D "Administrator@$REALM" -y "$DIR/adminpass" -s base -b '' dn >/dev/null 2>&1
}

install_packages() {
	local missing=""
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] || die "packages missing:$missing (run as root to install them)"
	say "installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	if ! apt-get install -y -q --no-install-recommends $missing >"$DIR/log/apt.log" 2>&1; then
		say "install failed without fresh package lists; running apt-get update"
		apt-get update -q >>"$DIR/log/apt.log" 2>&1
		# shellcheck disable=SC2086
		apt-get install -y -q --no-install-recommends $missing >>"$DIR/log/apt.log" 2>&1 ||
			die "apt-get install failed; see $DIR/log/apt.log"
	fi
	# An install may start the packaged daemons (with an init system); they are not ours to keep
	# running, and they would hold the LDAP ports. Stop only what the install just started.
	for svc in samba-ad-dc smbd nmbd winbind; do
		if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then
			systemctl stop "$svc" || true
		fi
	done
}

provision() {
	say "provisioning $REALM in $DIR"
	rm -rf "$DIR/private" "$DIR/etc" "$DIR/state" "$DIR/cache" "$DIR/bind-dns" "$DIR/.provisioned"
	# A random administrator password that passes the default complexity rules.
	(umask 077 && printf 'Tg-%s-Aa1' "$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" >"$DIR/adminpass")
	samba-tool domain provision --realm="$REALM" --domain=ROR --server-role=dc --dns-backend=NONE \
		--use-rfc2307 --adminpass="$(cat "$DIR/adminpass")" --targetdir="$DIR" \
		--option="interfaces = lo" --option="bind interfaces only = yes" >"$DIR/log/provision.log" 2>&1 ||
		die "provision failed; see $DIR/log/provision.log"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=dc.ror.test \
		-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -keyout "$DIR/tls-key.pem" -out "$DIR/tls-cert.pem" 2>/dev/null
	chmod 600 "$DIR/tls-key.pem"
}

start_dc() {
	mkdir -p "$DIR/run" "$DIR/log"
	# setsid: the DC outlives this script and is not in its process group.
	setsid samba -F -s "$DIR/etc/smb.conf" \
		--option="pid directory = $DIR/run" --option="log file = $DIR/log/samba.log" \
		--option="ldb:nosync = true" --option="server services = ldap" --option="prefork children = 1" \
		--option="tls keyfile = $DIR/tls-key.pem" --option="tls certfile = $DIR/tls-cert.pem" \
		--option="tls cafile = " </dev/null >>"$DIR/log/samba.out" 2>&1 &
	local pid=$! i
	echo "$pid" >"$PIDFILE"
	for i in $(seq 1 300); do
		ldaps_answers && return 0
		[ -d "/proc/$pid" ] || die "samba exited; see $DIR/log/samba.out and $DIR/log/samba.log"
		sleep 0.1
	done
	die "LDAPS did not answer within 30 s; see $DIR/log/samba.log"
}

make_ous() {
	local ldif="" m
	ldif+="dn: OU=ROR,$BASE"$'\n'"objectClass: organizationalUnit"$'\n\n'
	for m in $MUNICIPALITIES; do
		ldif+="dn: OU=$m,OU=ROR,$BASE"$'\n'"objectClass: organizationalUnit"$'\n\n'
	done
	ldif+="dn: OU=Groups,$BASE"$'\n'"objectClass: organizationalUnit"$'\n\n'
	ldif+="dn: OU=Deaktivert,$BASE"$'\n'"objectClass: organizationalUnit"$'\n\n'
	# -c: an OU already there (a rerun) is not an error.
	printf '%s' "$ldif" | LDAPTLS_CACERT="$DIR/tls-cert.pem" ldapadd -c -H ldaps://127.0.0.1:636 -x \
		-D "Administrator@$REALM" -y "$DIR/adminpass" >"$DIR/log/ous.log" 2>&1 || true
	grep -q "^adding new entry \"OU=Deaktivert" "$DIR/log/ous.log" || grep -q "Already exists" "$DIR/log/ous.log" ||
		die "could not create the OUs; see $DIR/log/ous.log"
}

# make_groups adds the catalogue's groups that are missing; run on every start, so a DC provisioned
# before a group joined the list gets it too.
make_groups() {
	local ldif="" g n=0
	for g in $CATALOGUE_GROUPS; do
		ldif+="dn: CN=$g,OU=Groups,$BASE"$'\n'"objectClass: group"$'\n'"sAMAccountName: $g"$'\n\n'
		n=$((n + 1))
	done
	# -c: a group already there is not an error; any other refusal is, and so is a bind that failed
	# (no "adding new entry" line for every group).
	printf '%s' "$ldif" | LDAPTLS_CACERT="$DIR/tls-cert.pem" ldapadd -c -H ldaps://127.0.0.1:636 -x \
		-D "Administrator@$REALM" -y "$DIR/adminpass" >"$DIR/log/groups.log" 2>&1 || true
	if [ "$(grep -c '^adding new entry' "$DIR/log/groups.log")" != "$n" ] ||
		grep '^ldap_add: ' "$DIR/log/groups.log" | grep -qv 'Already exists'; then
		die "could not create the catalogue's groups; see $DIR/log/groups.log"
	fi
}

write_env() {
	(umask 077 && cat >"$ENVFILE" <<EOF
TILGANG_AD_URL=ldaps://127.0.0.1:636
TILGANG_AD_CA_FILE=$DIR/tls-cert.pem
TILGANG_AD_BIND_DN=CN=Administrator,CN=Users,$BASE
TILGANG_AD_BIND_UPN=Administrator@ror.test
TILGANG_AD_BIND_PASSWORD=$(cat "$DIR/adminpass")
TILGANG_AD_BIND_PASSWORD_FILE=$DIR/adminpass
TILGANG_AD_BASE_DN=$BASE
TILGANG_AD_ENV_FILE=$ENVFILE
EOF
	)
}

print_env() {
	[ -f "$ENVFILE" ] || die "no env file at $ENVFILE; run: bash deploy/samba-testenv.sh start"
	sed 's/^\(TILGANG_AD_BIND_PASSWORD\)=.*/\1=(redacted; in the file)/' "$ENVFILE"
}

cmd_start() {
	require_owned
	local t0=$SECONDS pid
	if owned && [ -f "$DIR/.provisioned" ] && pid="$(running_pid)"; then
		if ldaps_answers; then
			say "reusing the running DC (pid $pid)"
			make_groups
			write_env
			print_env
			return 0
		fi
		say "pid $pid does not answer LDAPS; restarting it"
		cmd_stop
	fi
	if ! owned; then
		mkdir -p "$DIR"
		echo "created by tilgang deploy/samba-testenv.sh on $(date -u +%FT%TZ); safe to wipe" >"$MARKER"
	fi
	mkdir -p "$DIR/log" "$DIR/run"
	install_packages
	if [ ! -f "$DIR/.provisioned" ]; then
		cmd_stop >/dev/null 2>&1 # a DC of a half-finished provisioning
		provision
		start_dc
		make_ous
		touch "$DIR/.provisioned"
	else
		say "starting the provisioned DC"
		start_dc
	fi
	make_groups
	write_env
	say "LDAPS answers on 127.0.0.1:636 (pid $(cat "$PIDFILE"), $((SECONDS - t0)) s); env in $ENVFILE"
	print_env
}

cmd_stop() {
	require_owned
	local pid i
	pid="$(running_pid)" || { say "not running"; return 0; }
	kill -TERM "$pid"
	for i in $(seq 1 100); do
		[ -d "/proc/$pid" ] || break
		sleep 0.1
	done
	if [ -d "/proc/$pid" ]; then
		say "pid $pid ignored SIGTERM for 10 s; sending SIGKILL to it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$PIDFILE"
	say "stopped (pid $pid)"
}

cmd_wipe() {
	[ -d "$DIR" ] || { say "nothing to wipe at $DIR"; return 0; }
	require_owned
	cmd_stop
	rm -rf "$DIR"
	say "removed $DIR"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
wipe) cmd_wipe ;;
env) require_owned; print_env ;;
*) echo "usage: $0 start|stop|wipe|env" >&2; exit 2 ;;
esac
