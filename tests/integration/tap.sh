# shellcheck shell=bash
# tap.sh - sourced by the integration scripts: a temporary directory $T
# removed on exit (KEEP_TMP=1 keeps it), bail, and one TAP line a check.
#
#   tap_init NAME     make $T (ll-NAME.XXXXXX) and $DIAG; a script that
#                     defines on_cleanup gets it called first on exit
#   bail MSG...       "Bail out!" and exit 1 (set-up failed)
#   t DESC CMD...     run CMD: "ok - DESC", or "not ok - DESC" and CMD's
#                     output as "# " diagnostics
#   tcase DESC CMD... the same, numbered ("ok N - DESC"), CMD run in this
#                     shell (what it sets stays set); counts in $n and
#                     $failed; TAP_DIAG_CUT=tail keeps the end of the
#                     output rather than its start; with TAP_TODO=WHY
#                     set, a known failure: "# TODO WHY", not counted
#   plan              "1..N", and the status: 0 if nothing failed
#   free_port VAR     a free 127.0.0.1 TCP and UDP port into VAR, from
#                     TESTS_PORTS (LO-HI; default 20000-31999, below the
#                     ephemeral range), none handed out twice; tests/run
#                     gives the scripts it runs at once ranges apart

tap_init() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/ll-$1.XXXXXX") || exit 1
	DIAG=$T/diag
	trap tap_cleanup EXIT
	trap 'exit 1' INT TERM
}

tap_cleanup() {
	if declare -F on_cleanup >/dev/null; then
		on_cleanup
	fi
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "# kept $T"
	else
		rm -rf "$T"
	fi
}

bail() {
	echo "Bail out! $*"
	exit 1
}

t() {
	local desc=$1
	shift
	if "$@" >"$DIAG" 2>&1; then
		echo "ok - $desc"
	else
		echo "not ok - $desc"
		sed 's/^/# /' "$DIAG" | head -n "${TAP_DIAG_LINES:-40}"
	fi
}

n=0
failed=0

tcase() {
	local desc=$1 todo=${TAP_TODO:+ # TODO $TAP_TODO}
	shift
	n=$((n + 1))
	if "$@" >"$DIAG" 2>&1; then
		echo "ok $n - $desc$todo"
	else
		[ -n "$todo" ] || failed=$((failed + 1))
		echo "not ok $n - $desc$todo"
		sed 's/^/# /' "$DIAG" |
			"${TAP_DIAG_CUT:-head}" -n "${TAP_DIAG_LINES:-40}"
	fi
}

plan() {
	echo "1..$n"
	[ "$failed" -eq 0 ]
}

used_ports=" "
free_port() {
	local range=${TESTS_PORTS:-20000-31999} lo hi p _
	lo=${range%-*} hi=${range#*-}
	for _ in $(seq 1 200); do
		p=$((lo + RANDOM % (hi - lo + 1)))
		case $used_ports in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htlnu "sport = :$p" 2>/dev/null)" ]; then
			used_ports="$used_ports$p "
			printf -v "$1" %s "$p"
			return 0
		fi
	done
	return 1
}
