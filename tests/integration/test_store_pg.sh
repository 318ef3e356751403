#!/bin/bash
# test_store_pg.sh - letterlockd with its store in PostgreSQL
# (src/service/store_pg.c), against a PostgreSQL cluster made for the
# run (pgtest.sh: the Debian server, 127.0.0.1 only, a password in the
# URI):
#
#   * the store's unit tests (test_store, test_store_pkx) on a database
#     of it, every function of store.h as on SQLite;
#   * the scenarios of test_acme.sh (enrolment by mail, restarts, kill
#     -9), test_pkx.sh, test_revoke.sh and test_backup.sh (the vault),
#     each run whole with its letterlockd's store in a database of its
#     own there (lldtest.sh's LLDTEST_PG): one case each;
#   * two letterlockd fronts (two copies of one CA directory, each
#     with its own base URL) over one database: an order made and
#     proven through one is finalized and downloaded through the other;
#     a revocation through one leaves the other's PKX lookups at once,
#     although the other answered the lookup from its cache just before;
#   * the server restarted under a running front: a request fails with
#     an error, not a crash, and the next ones succeed;
#   * the password of the URI is in no log line.
#
# It runs four other scripts whole, so its size says nothing of its
# time (tests/run starts the longest jobs first):
# tests/run: seconds 170
#
# TAP output; exit 0 when every case passed.  Needs root and the
# packages of scripts/setup (postgresql among them); skips otherwise.
# LETTERLOCK (first argument or the environment): the letterlock
# binary; lldtest.sh finds letterlockd next to it, and the unit tests
# are in the same build tree.  STORE_PG_SCENARIOS: the scenarios to run
# (default "acme pkx revoke backup"; "" runs none, for a quicker look
# at the rest; the other scripts that make their CA with lldtest.sh's
# lld_init run so too, e.g. "smimea renew").
# shellcheck disable=SC2317,SC2034,SC1091
# shellcheck disable=SC2153
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] && LETTERLOCK=$1
. "$here/tap.sh"
. "$here/lldtest.sh"
. "$here/pgtest.sh"

if [ "$(id -u)" -eq 0 ] && [ -n "$(pg_missing)" ]; then
	echo "ok 1 - letterlockd on PostgreSQL # SKIP missing:$(pg_missing) (run scripts/setup)"
	echo "1..1"
	exit 0
fi
lldtest_init store_pg "letterlockd on PostgreSQL"
export MAILSTACK_USERS=frank@example.test
unset MAILSTACK_PASSWORD
FRANK=frank@example.test
UNIT=$(dirname "$LETTERLOCKD")/../../tests/unit
HTTP2_PORT=""
free_port HTTP2_PORT || fatal "no free ports"
URL2=http://127.0.0.1:$HTTP2_PORT
CA2=$T/ca2
LOG2=$T/letterlockd2.log
LLD2_PID=""

# lldtest.sh's clean-up, then the second front's and the cluster's
eval "$(declare -f on_cleanup | sed '1s/on_cleanup/lldtest_cleanup/')"
on_cleanup() {
	front2_stop
	lldtest_cleanup
	pg_down
}

t "a PostgreSQL cluster on 127.0.0.1" pg_up "$T/pg"
if [ -z "$PG_PORT" ] || [ -z "$PG_PASSWORD" ]; then
	fatal "no PostgreSQL"
fi
SERVER=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT

# ---------------------------------------------------------- unit tests

t_unit() {
	local u
	pg_db unit || return 1
	for u in test_store test_store_pkx; do
		[ -x "$UNIT/$u" ] || { echo "no $UNIT/$u"; return 1; }
		LLD_TEST_PG_URL=$PG_URL "$UNIT/$u" >"$T/$u.out" 2>&1 || {
			grep -E 'FAILED|ERROR|LINE' "$T/$u.out" | head -n 20
			return 1
		}
		# the cases did run there: the schema of the last one is left
		[ "$(pg_sql "$PG_URL" "SELECT schema_version FROM lld_meta")" = 3 ] ||
			return 1
	done
}
t "the store's unit tests (test_store, test_store_pkx) on PostgreSQL" t_unit

# ---------------------------------------------------------- the scenarios

# scenario NAME: tests/integration/test_NAME.sh with its store on the
# cluster; its failing lines shown
scenario() {
	local out=$T/scenario-$1.tap rc
	LLDTEST_PG=$SERVER LETTERLOCKD=$LETTERLOCKD LETTERLOCK=$LETTERLOCK \
		bash "$here/test_$1.sh" >"$out" 2>&1
	rc=$?
	if grep -qx '1\.\.1' "$out" && grep -q '^ok 1 .*# SKIP' "$out"; then
		echo "skipped:"
		cat "$out"
		return 1
	fi
	[ "$rc" -eq 0 ] && ! grep -q '^not ok' "$out" && return 0
	echo "test_$1.sh exit $rc:"
	grep -A 12 '^not ok\|^Bail out' "$out" | head -n 60
	return 1
}
for s in ${STORE_PG_SCENARIOS-acme pkx revoke backup}; do
	t "test_$s.sh with letterlockd's store on PostgreSQL" scenario "$s"
done

# ---------------------------------------------------------- two fronts

lldtest_stack "mail stack up"
export LLDTEST_PG=$SERVER
t "letterlockd init, its store a new database" lld_init
grep -q "^path = postgresql://" "$CA/letterlockd.conf" ||
	fatal "the store is not on PostgreSQL"

# on_front2 CMD...: CMD with lldtest.sh's variables naming the second
# front (CA, HTTP_PORT, LOG, URL, LLD_PID)
on_front2() {
	local ca=$CA port=$HTTP_PORT log=$LOG url=$URL pid=$LLD_PID rc
	CA=$CA2 HTTP_PORT=$HTTP2_PORT LOG=$LOG2 URL=$URL2 LLD_PID=$LLD2_PID
	"$@"
	rc=$?
	LLD2_PID=$LLD_PID
	CA=$ca HTTP_PORT=$port LOG=$log URL=$url LLD_PID=$pid
	return "$rc"
}
# front2_start: a copy of the CA directory, its own base URL and port,
# the same store
front2_start() {
	cp -a "$CA" "$CA2" && rm -f "$CA2/run.lock" || return 1
	sed -i "s#$URL#$URL2#g" "$CA2/letterlockd.conf"
	grep -q "$URL2" "$CA2/letterlockd.conf" && on_front2 lld_start
}
front2_stop() { on_front2 lld_stop; }
t "two letterlockd fronts on the one database" \
	eval 'lld_start && front2_start'
if [ -z "$LLD_PID" ] || [ -z "$LLD2_PID" ]; then
	fatal "the fronts did not start"
fi

# the account's state for the second front: the same key, its URLs there
as_front2() {
	rm -rf "$T/acct-two" && cp -a "$T/acct-main" "$T/acct-two" &&
		sed -i "s#$URL#$URL2#g" "$T/acct-two"/*
}

t_order_across() {
	acme main account || return 1
	proven "$FRANK" || return 1
	as_front2 || return 1
	ORD2=${ORD/$URL/$URL2}
	on_front2 acme two finalize "$ORD2" --key-out "$T/frank.key" &&
		expect order-status valid &&
		on_front2 acme two cert "$ORD2" --out "$T/frank.pem" || return 1
	# and the first front sees it done
	acme main show "$ORD" && expect order-status valid
}
t "an order made and proven through one front is finalized through the other" t_order_across

# certs ADDR URL: how many certificates a PKX lookup of ADDR at URL gives
certs() {
	curl -sS --max-time 20 "$2/pkx/addr/$1" |
		"$PY" -c 'import json, sys; print(len(json.load(sys.stdin)["certificates"]))'
}

t_revoke_across() {
	# the second lookup at the second front is answered from its cache
	if [ "$(certs "$FRANK" "$URL2")" != 1 ] ||
		[ "$(certs "$FRANK" "$URL2")" != 1 ] ||
		[ "$(certs "$FRANK" "$URL")" != 1 ]; then
		echo "frank's certificate is not in both directories"
		return 1
	fi
	acme main revoke "$T/frank.pem" || return 1
	# at once: no waiting for a cache to age
	[ "$(certs "$FRANK" "$URL2")" = 0 ] &&
		[ "$(certs "$FRANK" "$URL")" = 0 ]
}
t "a revocation through one front leaves the other's PKX lookups at once" t_revoke_across

t_restart() {
	local bin i u ok=0 failed=0
	bin=$(pg_bin)
	as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 restart \
		-o "-c listen_addresses=127.0.0.1 -p $PG_PORT \
		    -c unix_socket_directories=$PG_DIR/sock -c fsync=off" \
		>/dev/null 2>&1 || { echo "no restart"; return 1; }
	# a new address each time (nothing from a cache), to either front:
	# the first request to each after the restart may fail, on the
	# connection the restart closed
	for i in $(seq 1 10); do
		u=$URL
		[ $((i % 2)) -eq 0 ] && u=$URL2
		if [ "$(certs "n$i@example.test" "$u" 2>/dev/null)" = 0 ]; then
			ok=$((ok + 1))
		else
			failed=$((failed + 1))
		fi
	done
	if ! kill -0 "$LLD2_PID" || ! kill -0 "$LLD_PID"; then
		echo "a front died"
		return 1
	fi
	echo "after the restart: $failed failed, $ok answered"
	[ "$failed" -le 2 ] && [ "$ok" -ge 8 ] || return 1
	# and it issues again
	acme main account && proven "$FRANK"
}
t "PostgreSQL restarted under the fronts: no crash, they reconnect" t_restart

t_secret() {
	if grep -lF "$PG_PASSWORD" "$LOG" "$LOG2" "$T"/scenario-*.tap; then
		echo "the password is in those"
		return 1
	fi
	# where the store is named, it is without the password
	! grep -h "postgresql://" "$LOG" "$LOG2" |
		grep -v "postgresql://$PG_USER:\*\*\*@"
}
t "the store's password is in no log line (the URI is shown without it)" t_secret

finish
