# Shared by the deploy/*-testenv.sh scripts, which source it after setting
# TESTENV (their name, for messages), DIR (the directory they own), MARKER
# (the file that proves they made DIR) and, for a server, PIDFILE.

say() { echo "$TESTENV: $*" >&2; }
die() { say "$*"; exit 1; }

owned() { [ -f "$MARKER" ]; }

# require_owned refuses to act on a DIR this script did not create.
require_owned() {
	[ -d "$DIR" ] || return 0
	owned || die "$DIR exists but was not created by this script (no $(basename "$MARKER")); refusing to touch it"
}

# pid_matching WORD prints the PID in PIDFILE when that process still runs
# and its command line names WORD (a recycled PID is not taken for ours).
pid_matching() {
	[ -f "$PIDFILE" ] || return 1
	local pid
	pid="$(cat "$PIDFILE")"
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q "$1" "/proc/$pid/cmdline" 2>/dev/null || return 1
	echo "$pid"
}
