# shellcheck shell=bash
# lldtest.sh - sourced (after tap.sh) by the integration scripts that
# run letterlockd against the mail stack on random loopback ports
# (test_acme.sh, test_pkx.sh):
#
#   lldtest_init NAME WHAT   skip (one TAP line naming WHAT) unless root
#                    and the tools are there; find $LETTERLOCKD and
#                    $LETTERLOCK (default: next to it); make $T
#                    (tap_init NAME), name $STACK, $CA, $LOG; free ports
#                    (tap.sh's free_port) for the stack (exported
#                    MAILSTACK_*_PORT) and $HTTP_PORT; $URL
#   t DESC CMD...    one numbered case; on failure CMD's output and the
#                    letterlockd log lines written meanwhile as "# "
#   finish, fatal MSG    the plan and the exit status; bail out
#   lld_init ARGS... letterlockd init of $CA for the stack's mailbox
#                    acme@ca.test (after `. $STACK/env`)
#   lld_start, lld_kill SIG, lld_stop    letterlockd run in its own
#                    session on $HTTP_PORT, its log in $LOG
#   acme ACCOUNT ARGS...   acmetool.py with ACCOUNT's state; output in
#                    $T/out; val KEY, expect KEY VALUE, problem TYPE ARGS,
#                    new_order ACCOUNT EMAIL ($ORD), proven USER [ACCOUNT]
#   pw USER, sql ARGS    a mailbox's password; sqlite3 with a time-out
#                    (on $CA/letterlockd.db: psql when the store is
#                    PostgreSQL, lld_pg)
#   lld_validity DAYS    the CA's certificate lifetime (next start)
#   llrun HOME ARGS..., ll_conf HOME USER [LINE...]   letterlock in a
#                    home ($T/out, $RC); its letterlock.conf for the stack
#   cert_fpr, cert_serial, cert_notafter PEM; sealed_to FILE   seen with
#                    openssl
#   maildir USER, got USER NAME, ngot USER NAME   delivered mail
#                    (Message-ID <NAME@example.test>) in the stack
#   fake_stop        end a fake server started with FAKE_PID=$!
#   stack_up         the mail stack up in $STACK (then `. $STACK/env`)
#   lldtest_stack DESC [CMD]   a case starting it (CMD, default
#                    stack_up), then its environment, or bail out
#
# On exit letterlockd and the mail stack are stopped.
#   LETTERLOCKD  the letterlockd binary; default: next to $LETTERLOCK's
#                tree (tests/run sets LETTERLOCK), else in $BUILD (the
#                build tree, default build)
#   LLDTEST_PG   a PostgreSQL server to keep letterlockd's store in,
#                postgresql://USER:PASSWORD@127.0.0.1:PORT (no
#                database; test_store_pg.sh runs scripts so): lld_init
#                makes a database of the script's own there and sets
#                [store] path to it, rather than $CA/letterlockd.db
#                (and leaves it: the cluster is thrown away after);
#                lld_pg says whether it is so
#
# $here and $top are the sourcing script's.
# shellcheck disable=SC2034,SC2154
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

PY=/usr/bin/python3
TOOL=$here/acmetool.py
MS=$top/scripts/mailstack
ERR=urn:ietf:params:acme:error:

# a failing case's output: its end, 25 lines (tap.sh's tcase)
TAP_DIAG_CUT="tail"
: "${TAP_DIAG_LINES:=25}"

abs() { case $1 in /*) echo "$1" ;; *) echo "$top/$1" ;; esac; }

lldtest_init() {
	local name=$1 what=$2 missing="" p v
	skip_all() {
		echo "ok 1 - $what # SKIP $*"
		echo "1..1"
		exit 0
	}
	if [ "$(id -u)" -ne 0 ]; then
		skip_all "needs root (the mail stack runs Postfix, Dovecot, NSD)"
	fi
	for p in postfix dovecot opendkim opendkim-genkey nsd nsd-control dig \
	    curl openssl ss sqlite3 setsid; do
		command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -x "$PY" ] && "$PY" -c 'import cryptography' 2>/dev/null ||
		missing="$missing python3-cryptography"
	if [ -n "${LLDTEST_PG:-}" ]; then
		command -v psql >/dev/null 2>&1 || missing="$missing psql"
	fi
	[ -z "$missing" ] || skip_all "missing:$missing (run scripts/setup)"

	if [ -z "${LETTERLOCKD:-}" ]; then
		if [ -n "${LETTERLOCK:-}" ]; then
			LETTERLOCKD=$(dirname "$(dirname "$(abs "$LETTERLOCK")")")/service/letterlockd
		elif [ -n "${BUILD:-}" ]; then
			LETTERLOCKD=$(abs "$BUILD")/src/service/letterlockd
		else
			LETTERLOCKD=$top/build/src/service/letterlockd
		fi
	fi
	LETTERLOCKD=$(abs "$LETTERLOCKD")
	[ -n "${LETTERLOCK:-}" ] ||
		LETTERLOCK=$(dirname "$LETTERLOCKD")/../cli/letterlock
	LETTERLOCK=$(abs "$LETTERLOCK")

	tap_init "$name"
	# the mail daemons' users must reach the stack's directory
	chmod 755 "$T"
	STACK=$T/ms
	CA=$T/ca
	LOG=$T/letterlockd.log
	LLD_PID=""
	start=$SECONDS

	for v in MAILSTACK_SMTP_PORT MAILSTACK_SUBMISSION_PORT \
	    MAILSTACK_SUBMISSIONS_PORT MAILSTACK_IMAP_PORT MAILSTACK_IMAPS_PORT \
	    MAILSTACK_DNS_PORT HTTP_PORT; do
		free_port "$v" || fatal "no free ports"
	done
	export MAILSTACK_SMTP_PORT MAILSTACK_SUBMISSION_PORT \
		MAILSTACK_SUBMISSIONS_PORT MAILSTACK_IMAP_PORT MAILSTACK_IMAPS_PORT \
		MAILSTACK_DNS_PORT
	URL=http://127.0.0.1:$HTTP_PORT
}

on_cleanup() {
	lld_stop
	if [ -f "$STACK/mailstack.conf" ]; then
		"$MS" down "$STACK" >/dev/null 2>&1
	fi
	echo "# took $((SECONDS - start)) s"
}

# t DESC CMD...: one numbered case; on failure CMD's output and the
# letterlockd log lines written meanwhile become diagnostics.
t() {
	local l0 f0=$failed
	l0=$(log_lines)
	tcase "$@"
	if [ "$failed" -gt "$f0" ] && [ -f "$LOG" ] &&
		[ "$(log_lines)" -gt "$l0" ]; then
		echo "# -- letterlockd log:"
		tail -n "+$((l0 + 1))" "$LOG" | tail -n 15 | sed 's/^/#  | /'
	fi
}
log_lines() { if [ -f "$LOG" ]; then wc -l <"$LOG"; else echo 0; fi; }
finish() {
	plan
	exit $?
}
fatal() { # fatal MSG: the rest cannot run
	echo "Bail out! $*"
	echo "1..$n"
	exit 1
}

# ------------------------------------------------------------ helpers

pw() { awk -v u="$1" 'index($0, u ":") == 1 { print substr($0, length(u) + 2) }' "$STACK/users.txt"; }

# acme ACCOUNT ARGS...: acmetool.py with ACCOUNT's state; its output is
# also kept in $T/out.
acme() {
	local acct=$1 rc
	shift
	timeout 150 "$PY" "$TOOL" --server "$URL" --state "$T/acct-$acct" \
		--timeout 30 "$@" >"$T/out" 2>"$T/err"
	rc=$?
	cat "$T/out" "$T/err"
	return "$rc"
}
# val KEY: the value of KEY= in $T/out
val() { sed -n "s/^$1=//p" "$T/out" | head -n 1; }
# expect KEY VALUE: $T/out says KEY=VALUE
expect() {
	grep -qxF -- "$1=$2" "$T/out" && return 0
	echo "expected $1=$2, got: $(grep "^$1=" "$T/out" || echo nothing)"
	return 1
}
# problem TYPE ARGS...: acmetool ARGS fails with the ACME error TYPE
problem() {
	local type=$1 rc
	shift
	acme "$@"
	rc=$?
	[ "$rc" -eq 1 ] || echo "acmetool exit $rc, expected 1 (a problem)"
	[ "$rc" -eq 1 ] && expect problem "$ERR$type"
}
# new_order ACCOUNT EMAIL: the order's URL into $ORD
new_order() {
	acme "$1" order "$2" && expect status pending || return 1
	ORD=$(val order)
	[ -n "$ORD" ]
}

# proven USER [ACCOUNT]: a new order of ACCOUNT (default main) for USER
# proven by a correct reply: $ORD ready
proven() {
	local acct=${2:-main}
	new_order "$acct" "$1" || return 1
	acme "$acct" reply "$ORD" --user "$1" || return 1
	TOKEN1=$(val token1)
	acme "$acct" respond "$ORD" || return 1
	acme "$acct" wait "$ORD" || return 1
	expect chall-status valid && expect authz-status valid &&
		expect order-status ready
}

sql() {
	if lld_pg && [ "$1" = "$CA/letterlockd.db" ]; then
		shift
		lld_pg_sql "$@"
		return
	fi
	sqlite3 -cmd '.timeout 5000' "$@"
}
# lld_pg: whether letterlockd's store is PostgreSQL (LLDTEST_PG)
lld_pg() { [ -n "${LLDTEST_PG:-}" ]; }
# lld_pg_sql SQL: SQLite's SQL of the scripts on the PostgreSQL store:
# "...; SELECT changes();" counts the rows the statement changed, a
# truth is 1 or 0 (hex() of a blob is made in lld_pg_db)
lld_pg_sql() {
	local q=$1
	case $q in
	*"; SELECT changes();")
		q="WITH c AS (${q%; SELECT changes();} RETURNING 1)"
		q="$q SELECT count(*) FROM c"
		;;
	esac
	PGCONNECT_TIMEOUT=10 timeout 60 psql -X -q -tA -v ON_ERROR_STOP=1 \
		-d "$LLD_PG_URL" -c "$q" | sed 's/^t$/1/; s/^f$/0/'
	return "${PIPESTATUS[0]}"
}
# lld_pg_db: a new database for this script's letterlockd on
# LLDTEST_PG, its URI in LLD_PG_URL
lld_pg_db() {
	local db
	db=lld_$(basename "$T" | tr -c 'a-zA-Z0-9\n' _ | tr '[:upper:]' '[:lower:]')
	PGCONNECT_TIMEOUT=10 timeout 60 psql -X -q -v ON_ERROR_STOP=1 \
		-d "$LLDTEST_PG/postgres" -c "CREATE DATABASE $db" || return 1
	LLD_PG_URL=$LLDTEST_PG/$db
	lld_pg_sql "CREATE FUNCTION hex(bytea) RETURNS text LANGUAGE sql
		AS 'SELECT upper(encode(\$1, ''hex''))'"
}
# maildir USER: USER's Maildir in the stack; got USER NAME: the messages
# delivered to USER with Message-ID <NAME@example.test>; ngot: how many
maildir() { echo "$STACK/mail/example.test/${1%@*}/Maildir"; }
got() {
	grep -l -s "^Message-ID: <$2@example.test>" \
		"$(maildir "$1")"/new/* "$(maildir "$1")"/cur/*
}
ngot() { got "$1" "$2" | wc -l; }
# fake_stop: end the fake server a script started in the background
# (its pid in $FAKE_PID)
FAKE_PID=""
fake_stop() {
	[ -n "$FAKE_PID" ] || return 0
	kill "$FAKE_PID" 2>/dev/null
	wait "$FAKE_PID" 2>/dev/null
	FAKE_PID=""
}

# stack_up: the mail stack up in $STACK, its output in $T/stack.out
stack_up() {
	"$MS" up "$STACK" >"$T/stack.out" 2>&1 || {
		cat "$T/stack.out"
		return 1
	}
}

# lldtest_stack DESC [CMD]: the case DESC runs CMD (default stack_up);
# then the stack's environment, or bail out
lldtest_stack() {
	t "$1" "${2:-stack_up}"
	[ -f "$STACK/env" ] || fatal "the mail stack did not start"
	. "$STACK/env"
	[ -x "$LETTERLOCKD" ] || fatal "no letterlockd binary at $LETTERLOCKD"
}

# ------------------------------------------------------ letterlockd

# lld_init [ARGS...]: letterlockd init of $CA at $URL validating by
# mail through the stack's acme@ca.test, with its DNS; replies are read
# every second.
lld_init() {
	printf '%s' "$(pw acme@ca.test)" >"$T/mail.password" &&
		chmod 600 "$T/mail.password" || return 1
	timeout 60 "$LETTERLOCKD" init --dir "$CA" --name "ACME Test CA" \
		--base-url "$URL" --listen "127.0.0.1:$HTTP_PORT" \
		--mail-from acme@ca.test \
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		--mail-user acme@ca.test --mail-password-file "$T/mail.password" \
		--mail-ca-file "$MAILSTACK_CA_FILE" \
		--resolver-conf "$MAILSTACK_RESOLVER_CONF" \
		--caa-identity ca.test "$@" || return 1
	sed -i 's/^poll_interval = .*/poll_interval = 1/' "$CA/letterlockd.conf"
	if lld_pg; then
		lld_pg_db || return 1
		sed -i "s#^path = .*/letterlockd.db\$#path = $LLD_PG_URL#" \
			"$CA/letterlockd.conf"
		grep -qxF "path = $LLD_PG_URL" "$CA/letterlockd.conf"
	fi
}

lld_start() {
	local _
	# its own session and process group: the front and its keyholder
	setsid "$LETTERLOCKD" run --dir "$CA" --listen "127.0.0.1:$HTTP_PORT" \
		</dev/null >>"$LOG" 2>&1 &
	LLD_PID=$!
	for _ in $(seq 1 100); do
		if curl -sf --max-time 2 -o /dev/null "$URL/acme/directory"; then
			return 0
		fi
		if ! kill -0 "$LLD_PID" 2>/dev/null; then
			echo "letterlockd exited:"
			tail -n 20 "$LOG"
			LLD_PID=""
			return 1
		fi
		sleep 0.1
	done
	echo "letterlockd did not answer in 10 s"
	tail -n 20 "$LOG"
	return 1
}

# lld_kill SIGNAL: signal letterlockd's whole process group, wait until
# every process of it is gone (10 s, then SIGKILL).
lld_kill() {
	local _
	[ -n "$LLD_PID" ] || return 0
	kill "-$1" -- "-$LLD_PID" 2>/dev/null
	for _ in $(seq 1 100); do
		pgrep -g "$LLD_PID" >/dev/null || break
		sleep 0.1
	done
	if pgrep -g "$LLD_PID" >/dev/null; then
		echo "letterlockd did not stop on SIG$1; killing it"
		kill -KILL -- "-$LLD_PID" 2>/dev/null
		sleep 0.5
	fi
	wait "$LLD_PID" 2>/dev/null
	LLD_PID=""
}
lld_stop() { lld_kill TERM; }

# lld_validity DAYS: the CA's [ca] validity_days (takes effect at the
# next lld_start)
lld_validity() {
	if grep -q '^validity_days' "$CA/letterlockd.conf"; then
		sed -i "s/^validity_days.*/validity_days = $1/" "$CA/letterlockd.conf"
	else
		sed -i "/^\[ca\]/a validity_days = $1" "$CA/letterlockd.conf"
	fi
	grep -q "^validity_days = $1\$" "$CA/letterlockd.conf"
}

# ---- letterlock homes

# llrun HOME ARGS...: letterlock in HOME; its output in $T/out (and
# shown), its status in $RC
llrun() {
	timeout 150 "$LETTERLOCK" --home "$@" >"$T/out" 2>&1
	RC=$?
	cat "$T/out"
}

# ll_conf HOME USER [LINE...]: HOME/letterlock.conf for USER's mailbox
# on the stack and this CA ([acme], [mail] with the password in
# $T/USER.password), then the LINEs
ll_conf() {
	local home=$1 user=$2
	shift 2
	mkdir -p "$home"
	pw "$user" >"$T/$user.password" && chmod 600 "$T/$user.password"
	printf '%s\n' "[acme]" "url = $URL/acme/directory" "[mail]" \
		"imap_url = imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		"smtp_url = smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		"user = $user" "password_file = $T/$user.password" "$@" \
		>"$home/letterlock.conf"
}

# ---- certificates and sealed mail, seen with openssl

# cert_fpr PEM: SHA-256 fingerprint, lower-case hex
cert_fpr() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 |
		sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}
# cert_serial PEM: the serial number, upper-case hex, no leading zeros
cert_serial() { openssl x509 -in "$1" -noout -serial | sed 's/.*=//; s/^0*//'; }
# cert_notafter PEM: notAfter in seconds since the epoch
cert_notafter() {
	date -u -d "$(openssl x509 -in "$1" -noout -enddate | sed 's/.*=//')" +%s
}
# sealed_to FILE: the serial numbers (as cert_serial) of the
# certificates an S/MIME message is encrypted to, one a line
sealed_to() {
	openssl cms -cmsout -print -in "$1" 2>/dev/null |
		awk '/serialNumber:/ { print $2 }' |
		"$PY" -c 'import sys
for w in sys.stdin.read().split():
    print("%X" % int(w, 0))'
}
