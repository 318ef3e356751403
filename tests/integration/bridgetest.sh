# bridgetest.sh - what the bridge's tests share (sourced after
# lldtest.sh): letterlock with a person's home, and one bridge started
# and stopped.
#
#   ll WHO ARGS...          letterlock --home $T/WHO ARGS...
#   bridge_start            WHO's bridge ($BRIDGE_WHO) in a session of
#                           its own until $BRIDGE_PORT listens; log in
#                           $BLOG, pid in $BRIDGE_PID
#   bridge_kill SIG         SIG to its process group, wait; $BRIDGE_RC
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
