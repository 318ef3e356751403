# bridgetest.sh - what the bridge's tests share (sourced after
# lldtest.sh): letterlock with a person's home, and one bridge started
# and stopped.
#
#   ll WHO ARGS...          letterlock --home $T/WHO ARGS...
#   bridge_start            WHO's bridge ($BRIDGE_WHO) in a session of
#                           its own until $BRIDGE_PORT listens; log in
#                           $BLOG, pid in $BRIDGE_PID
#   bridge_kill SIG         SIG to its process group, wait; $BRIDGE_RC
#   bridge_bob              bob's bridge for the test: free ports $IPORT
#                           (IMAP) and $SPORT (SMTP), killed on exit
#   bridge_homes            alice ($ALICE) and bob ($BOB): identities,
#                           each other's certificates; bob's account at
#                           the mail stack, his bridge on $IPORT, $SPORT
#   direct ARGS...          curl at Dovecot as bob
#   upload NAME             $T/NAME.eml into bob's INBOX at Dovecot
#   uid NAME                the UID of <NAME@example.test> there
#   via PASSWORD PATH ARGS  curl at bob's bridge: $OUT, $RC
#   tls_py ARGS <SCRIPT     python SCRIPT with t, a TLS connection to
#                           bob's bridge after STARTTLS
#   session_bound PORT GREETING BUSY
#                           64 clients at PORT each get GREETING, a
#                           65th BUSY and the end; once one went,
#                           another is greeted
#
# shellcheck shell=bash disable=SC2034

ll() {
	local who=$1
	shift
	"$LETTERLOCK" --home "$T/$who" "$@"
}

BRIDGE_PID=""
BLOG=$T/bridge.log

bridge_start() {
	local _
	setsid "$LETTERLOCK" --home "$T/$BRIDGE_WHO" bridge </dev/null \
		>>"$BLOG" 2>&1 &
	BRIDGE_PID=$!
	for _ in $(seq 1 100); do
		[ -n "$(ss -Htln "sport = :$BRIDGE_PORT")" ] && return 0
		kill -0 "$BRIDGE_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "the bridge did not start:"
	tail -n 20 "$BLOG"
	return 1
}

bridge_kill() {
	local _
	[ -n "$BRIDGE_PID" ] || return 0
	kill "-$1" -- "-$BRIDGE_PID" 2>/dev/null
	for _ in $(seq 1 100); do
		pgrep -g "$BRIDGE_PID" >/dev/null || break
		sleep 0.1
	done
	wait "$BRIDGE_PID" 2>/dev/null
	BRIDGE_RC=$?
	BRIDGE_PID=""
}

bridge_bob() {
	free_port IPORT || fatal "no free port"
	free_port SPORT || fatal "no free port"
	BRIDGE_WHO=bob
	BRIDGE_PORT=$IPORT
	eval "lld_cleanup() $(declare -f on_cleanup | tail -n +2)"
	on_cleanup() {
		bridge_kill KILL
		lld_cleanup
	}
}

bridge_homes() {
	ll alice identity new --email "$ALICE" --key ec-p256 --self-signed \
		>/dev/null &&
		ll bob identity new --email "$BOB" --key ec-p256 --self-signed \
			>/dev/null &&
		ll alice identity export-cert "$ALICE" >"$T/alice.pem" &&
		ll bob identity export-cert "$BOB" >"$T/bob.pem" &&
		ll alice contact add "$T/bob.pem" &&
		ll bob trust add "$T/alice.pem" || return 1
	pw "$BOB" >"$T/bob.password"
	ll bob account add "$BOB" \
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT" \
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--password-file "$T/bob.password" \
		--ca-file "$MAILSTACK_CA_FILE" || return 1
	printf '[bridge]\nsmtp_port = %s\nimap_port = %s\n' "$SPORT" "$IPORT" \
		>"$T/bob/letterlock.conf"
}

# direct ARGS...: curl at Dovecot as bob (STARTTLS, the stack's CA)
direct() {
	curl -sS --ssl-reqd --cacert "$MAILSTACK_CA_FILE" \
		--user "$BOB:$(pw "$BOB")" "$@"
}
# upload NAME: $T/NAME.eml into bob's INBOX at Dovecot (APPEND)
upload() {
	direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		-T "$T/$1.eml"
}
# uid NAME: the UID of NAME in bob's INBOX
uid() {
	direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		-X "UID SEARCH HEADER Message-ID <$1@example.test>" |
		awk '/^\* SEARCH [0-9]/ { print $3 }' | tr -d '\r'
}
# via PASSWORD URL-PATH [ARGS...]: curl at bob's bridge (STARTTLS, the
# bridge's certificate pinned); output in $OUT, exit status in $RC
via() {
	local pass=$1 path=$2
	shift 2
	OUT=$(timeout 30 curl -sS --ssl-reqd --cacert "$T/bob/bridge/tls.pem" \
		--user "$BOB:$pass" --url "imap://127.0.0.1:$IPORT/$path" \
		"$@" 2>&1)
	RC=$?
	VIA=$((${VIA:-0} + 1))
	printf '%s\n' "$OUT" >"$T/via.$VIA"
	echo "curl: exit $RC (output in via.$VIA)"
}

# tls_py ARGS... <SCRIPT: python SCRIPT with t, a TLS connection to
# bob's bridge after STARTTLS (its certificate pinned), ARGS in sys.argv,
# read_all() what comes until the bridge closes
tls_py() {
	{
		cat <<'PY'
import socket, ssl, sys
port, ca = int(sys.argv.pop(1)), sys.argv.pop(1)
s = socket.create_connection(("127.0.0.1", port), timeout=30)
f = s.makefile("rb")
f.readline()
s.sendall(b"a STARTTLS\r\n")
f.readline()
t = ssl.create_default_context(cafile=ca).wrap_socket(
    s, server_hostname="127.0.0.1")
def read_all():
    got = b""
    while True:
        b = t.recv(4096)
        if not b:
            return got
        got += b
PY
		cat
	} | "$PY" - "$IPORT" "$T/bob/bridge/tls.pem" "$@"
}

# session_bound PORT GREETING BUSY: the bridge's listener at PORT serves
# 64 clients at once (each greeted with a line starting GREETING); a
# 65th gets the line BUSY and the end; once one of the 64 went, a new
# client is greeted again
session_bound() {
	"$PY" - "$@" <<'PY'
import socket, sys, time
port, greeting, busy = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s, s.makefile("rb")
def line(f):
    return f.readline().decode(errors="replace").rstrip("\r\n")
held = []
for i in range(64):
    s, f = connect()
    got = line(f)
    if not got.startswith(greeting):
        sys.exit("client %d: %r" % (i + 1, got))
    held.append((s, f))
s, f = connect()
got, end = line(f), f.read()
print("65th:", got, "then", end)
if got != busy or end != b"":
    sys.exit(1)
held.pop()[0].close()
for _ in range(50):  # the bridge sees the close in its next loop turn
    s, f = connect()
    got = line(f)
    if got.startswith(greeting):
        break
    time.sleep(0.1)
print("after one went:", got)
sys.exit(0 if got.startswith(greeting) else 1)
PY
}
