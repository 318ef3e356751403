#!/bin/bash
# test_bridge_mutt.sh - a real mail client through `letterlock bridge`:
# neomutt, run in a detached tmux session and driven with send-keys as a
# user would, on the real mail stack (scripts/mailstack).  alice and bob
# each run a bridge (SMTP and IMAP); each neomutt trusts its bridge's
# own certificate (HOME/bridge/tls.pem, verification on) and logs in
# with the bridge password:
#
#   * alice composes a message to bob in neomutt and sends it through
#     her bridge; the copy Postfix delivered to bob is S/MIME
#     ciphertext; neomutt's Sent copy (APPEND through her bridge) is
#     ciphertext on the server;
#   * bob opens it in neomutt through his bridge: neomutt fetches the
#     whole message (BODY.PEEK[]) and the pager shows the plaintext and
#     "X-Letterlock-Status: encrypted ...; signature valid by alice";
#   * a signed message whose body was changed shows "signature
#     invalid", never valid;
#   * neomutt's own body search (~B, which fetches each message) finds
#     a word of an encrypted body;
#   * the index shows the real subject of an encrypted message (the
#     bridge answers the index's header fetch from the opened message);
#     the server-side body search (=B, IMAP SEARCH) finds a word of an
#     encrypted body.
#
# The screen is read with tmux capture-pane, each step waiting (bounded)
# for what it expects.  Output: TAP.  Needs root, scripts/setup's
# packages, neomutt and tmux; skips otherwise.  KEEP_TMP=1 keeps the
# directory (the screens, neomutt's logs, the bridges' logs).
#
# shellcheck disable=SC2317,SC2034,SC2016,SC1091,SC2153
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"

ALICE=alice@example.test
BOB=bob@example.test

for p in neomutt tmux; do
	if ! command -v "$p" >/dev/null 2>&1; then
		echo "ok 1 - neomutt through the bridge # SKIP missing: $p (run scripts/setup)"
		echo "1..1"
		exit 0
	fi
done

lldtest_init bridge_mutt "neomutt through letterlock bridge"
unset MAILSTACK_PASSWORD

for v in A_SMTP A_IMAP B_SMTP B_IMAP; do
	free_port "$v" || fatal "no free port"
done

. "$here/bridgetest.sh"

# bridge_of WHO SMTP_PORT IMAP_PORT: WHO's bridge started (bridgetest.sh
# runs one at a time: its pid is kept in BRIDGE_PID_WHO, its log in
# $T/WHO.bridge.log)
bridge_of() {
	BRIDGE_WHO=$1 BRIDGE_PORT=$3 BLOG=$T/$1.bridge.log BRIDGE_PID=""
	bridge_start || return 1
	printf -v "BRIDGE_PID_$1" %s "$BRIDGE_PID"
	# both its ports listen
	for _ in $(seq 1 50); do
		[ -n "$(ss -Htln "sport = :$2")" ] && return 0
		sleep 0.1
	done
	echo "$1's bridge does not listen on $2"
	return 1
}
BRIDGE_PID_alice=""
BRIDGE_PID_bob=""

# a tmux server of the test's own (not a session the test may run in)
unset TMUX
TMUX_SOCK=$T/tmux.sock
tm() { tmux -S "$TMUX_SOCK" -f "$T/tmux.conf" "$@"; }

eval "lld_cleanup() $(declare -f on_cleanup | tail -n +2)"
on_cleanup() {
	[ -S "$TMUX_SOCK" ] && tm kill-server 2>/dev/null
	BRIDGE_PID=$BRIDGE_PID_alice bridge_kill KILL
	BRIDGE_PID=$BRIDGE_PID_bob bridge_kill KILL
	lld_cleanup
}

# ------------------------------------------------------------ neomutt

# muttrc WHO: $T/WHO.muttrc, neomutt for WHO's bridge: IMAP (INBOX,
# Sent as the record) and SMTP, both STARTTLS with the bridge's own
# certificate as the only one trusted; no system configuration (-n).
# crypt_use_gpgme stays at its default (yes): with the classic S/MIME
# backend, neomutt takes an encrypted message for one it must decrypt
# itself (the Content-Type of the index's header fetch is the server's,
# application/pkcs7-mime) and asks for a key ID before it shows what
# the bridge opened.  crypt_verify_sig=no: the verdict shown is the
# bridge's, not neomutt's own check of a signature.
muttrc() {
	local who=$1 sport iport pass
	[ "$who" = alice ] && sport=$A_SMTP iport=$A_IMAP
	[ "$who" = bob ] && sport=$B_SMTP iport=$B_IMAP
	pass=$(ll "$who" bridge --show-password) || return 1
	mkdir -p "$T/mutt-$who"
	cat >"$T/$who.muttrc" <<EOF
set from="${who^} <$who@example.test>"
set folder="imap://$who%40example.test@127.0.0.1:$iport/"
set spoolfile="+INBOX"
set record="+Sent"
set imap_pass="$pass"
set smtp_url="smtp://$who%40example.test@127.0.0.1:$sport/"
set smtp_pass="$pass"
set ssl_starttls=yes
set ssl_force_tls=yes
set ssl_verify_host=yes
set ssl_ca_certificates_file="$T/$who/bridge/tls.pem"
set certificate_file="$T/mutt-$who/certificates"
set imap_peek=yes
set header_cache=""
set message_cachedir=""
set crypt_verify_sig=no
set editor="$T/editor.sh"
set askcc=no
set askbcc=no
set confirmappend=no
set sleep_time=0
set beep=no
set wait_key=no
set sort=date-sent
set markers=no
set index_format="msg %4C | %-20.20F | %s"
set status_format="status: %f msgs=%m"
set pager_format="pager: %s"
ignore *
unignore from: to: subject: message-id: x-letterlock-status:
unhdr_order *
hdr_order x-letterlock-status: from: to: subject: message-id:
EOF
	# the Message-ID of what alice sends, to find its copies
	[ "$who" = alice ] &&
		echo 'my_hdr Message-ID: <mutt-sent@example.test>' >>"$T/$who.muttrc"
	chmod 600 "$T/$who.muttrc"
}

# mutt_start WHO: neomutt of WHO in the tmux session WHO, a 250x50
# screen; its debug log (the IMAP commands it sends, the login among
# them: not readable by others) in $T/mutt-WHO/log0
mutt_start() {
	tm new-session -d -s "$1" -x 250 -y 50 \
		-e "HOME=$T/mutt-$1" -e "TERM=screen" \
		"umask 077; exec neomutt -n -F '$T/$1.muttrc' -d 2 -l '$T/mutt-$1/log'"
}

# screen_of WHO: what WHO's screen shows now (wrapped lines joined)
screen_of() { tm capture-pane -p -J -t "$1"; }

# wait_until WHO SECONDS WHAT CMD...: poll WHO's screen (into
# $T/WHO.screen) until CMD, which reads that file, succeeds; on a
# time-out say that WHAT did not show, and show the screen
wait_until() {
	local who=$1 secs=$2 what=$3 _
	shift 3
	for _ in $(seq 1 $((secs * 10))); do
		screen_of "$who" >"$T/$who.screen" 2>&1
		"$@" && return 0
		sleep 0.1
	done
	echo "$who's screen shows no $what after $secs s:"
	sed 's/ *$//' "$T/$who.screen" | grep -v '^$'
	return 1
}
# wait_for WHO SECONDS REGEX: until a line matches REGEX (grep -E)
wait_for() { wait_until "$1" "$2" "/$3/" grep -Eq -- "$3" "$T/$1.screen"; }

# keys WHO KEY...: keys by name (Enter, m, ...); typed WHO TEXT: TEXT
keys() {
	local who=$1
	shift
	tm send-keys -t "$who" "$@"
}
typed() { tm send-keys -t "$1" -l "$2"; }

# limit WHO PATTERN COUNT...: neomutt's <limit> (l) to PATTERN, then
# wait until the index lists one of COUNT messages (give counts the
# view before did not show; none matched lists 0).  The status line
# cannot tell: this neomutt redraws it one step late.
limit() {
	local who=$1 pat=$2
	shift 2
	keys "$who" l && wait_for "$who" 10 '^Limit to messages' &&
		typed "$who" "$pat" && keys "$who" Enter &&
		wait_until "$who" 30 "a list of $* after the limit" \
			listed "$who" "$@"
}
listed() {
	local who=$1 c k
	shift
	grep -q '^Limit to messages' "$T/$who.screen" && return 1
	c=$(grep -c '^msg ' "$T/$who.screen")
	for k in "$@"; do [ "$c" = "$k" ] && return 0; done
	return 1
}
# pager WHO: <display-message> (Enter) and wait for the pager and its
# X-Letterlock-Status line; back WHO: back to the index
pager() {
	keys "$1" Enter && wait_for "$1" 30 '^X-Letterlock-Status: '
}
back() { keys "$1" i && wait_for "$1" 10 '^q:Quit'; }
# fetched WHO: the FETCH commands of message contents that WHO's
# neomutt sent (not those of the index's header fields)
fetched() {
	grep -o 'FETCH [^(]*(*BODY[^ ]*\[[^]]*\]' "$T/mutt-$1/log0" |
		grep -v 'HEADER.FIELDS'
}

# --------------------------------------------- the server, without a bridge

# direct WHO ARGS...: curl at Dovecot as WHO (STARTTLS, the stack's CA)
direct() {
	local who=$1
	shift
	curl -sS --ssl-reqd --cacert "$MAILSTACK_CA_FILE" \
		--user "$who@example.test:$(pw "$who@example.test")" "$@"
}
# stored WHO MAILBOX ID: the message with Message-ID <ID> in WHO's
# MAILBOX as Dovecot has it (not through a bridge)
stored() {
	local u url="imap://127.0.0.1:$MAILSTACK_IMAP_PORT/$2"
	u=$(direct "$1" --url "$url" -X "UID SEARCH HEADER Message-ID <$3>" |
		awk '/^\* SEARCH [0-9]/ { print $3 }' | tr -d '\r')
	[ -n "$u" ] || { echo "no <$3> in $1's $2"; return 1; }
	direct "$1" --url "$url;UID=$u"
}

# ciphertext FILE PEM: FILE is S/MIME enveloped data sealed to PEM's
# certificate, no word of the message's body or subject in clear
ciphertext() {
	head -n 20 "$1"
	grep -qi '^Content-Type: application/pkcs7-mime' "$1" &&
		! grep -qi -e pumpernickel -e quarterly "$1" &&
		sealed_to "$1" | grep -qx "$(cert_serial "$2")"
}

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up"

t_homes() {
	local who
	for who in alice bob; do
		ll "$who" identity new --email "$who@example.test" \
			--key ec-p256 --self-signed >/dev/null &&
			ll "$who" identity export-cert "$who@example.test" \
				>"$T/$who.pem" || return 1
		pw "$who@example.test" >"$T/$who.password"
		ll "$who" account add "$who@example.test" \
			--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT" \
			--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
			--password-file "$T/$who.password" \
			--ca-file "$MAILSTACK_CA_FILE" >/dev/null || return 1
	done
	ll alice contact add "$T/bob.pem" && ll bob trust add "$T/alice.pem" &&
		ll alice trust add "$T/alice.pem" || return 1
	printf '[bridge]\nsmtp_port = %s\nimap_port = %s\n' "$A_SMTP" "$A_IMAP" \
		>"$T/alice/letterlock.conf"
	printf '[bridge]\nsmtp_port = %s\nimap_port = %s\n' "$B_SMTP" "$B_IMAP" \
		>"$T/bob/letterlock.conf"
}
t "alice and bob: identities, accounts; bob's certificate in alice's contacts; alice's trusted by bob (and by her)" t_homes

t "alice's bridge starts" bridge_of alice "$A_SMTP" "$A_IMAP"
t "bob's bridge starts" bridge_of bob "$B_SMTP" "$B_IMAP"
if [ -z "$BRIDGE_PID_alice" ] || [ -z "$BRIDGE_PID_bob" ]; then
	fatal "no bridges"
fi

cat >"$T/editor.sh" <<'EOF'
#!/bin/sh
# neomutt's editor: the body alice types
printf 'Hello Bob,\n\nthe secret word is pumpernickel.\n\nAlice\n' >"$1"
EOF
chmod 755 "$T/editor.sh"
printf 'set -g remain-on-exit on\nset -g history-limit 2000\n' >"$T/tmux.conf"
muttrc alice || fatal "no muttrc for alice"
muttrc bob || fatal "no muttrc for bob"

t_alice_starts() {
	mutt_start alice && wait_for alice 30 '^status: \+INBOX msgs=0'
}
t "alice's neomutt logs in to her bridge's IMAP (STARTTLS, the bridge's certificate verified, no question asked)" t_alice_starts

t_other_cert() {
	# bob's configuration, but alice's bridge certificate trusted
	mkdir -p "$T/mutt-other" &&
		sed "s|$T/bob/bridge/tls.pem|$T/alice/bridge/tls.pem|" \
			"$T/bob.muttrc" >"$T/other.muttrc" || return 1
	grep -q "^set ssl_ca_certificates_file=\"$T/alice/" "$T/other.muttrc" &&
		mutt_start other && wait_for other 30 '\(r\)eject' || return 1
	keys other r && wait_until other 10 "the question gone" \
		eval '! grep -q "(r)eject" "$T/other.screen"'
	sed 's/ *$//' "$T/other.screen" | grep -v '^$'
	grep -q '^status: (no mailbox)' "$T/other.screen" &&
		grep -q '^Unable to open mailbox' "$T/other.screen" &&
		tm kill-session -t other
}
t "a neomutt that trusts another certificate than the bridge's asks (reject/accept) and, rejected, does not log in" t_other_cert

t_compose() {
	keys alice m && wait_for alice 10 '^To: ' &&
		typed alice "Bob <$BOB>" && keys alice Enter &&
		wait_for alice 10 '^Subject: ' &&
		typed alice 'the quarterly figures' && keys alice Enter &&
		wait_for alice 20 'y:Send' &&
		keys alice y && wait_for alice 60 '^Mail sent'
}
t "alice writes to bob in neomutt and sends it through her bridge (SMTP, STARTTLS): 'Mail sent.'" t_compose

t_delivered() {
	local _
	for _ in $(seq 1 150); do
		[ "$(ngot "$BOB" mutt-sent)" -ge 1 ] && break
		sleep 0.1
	done
	[ "$(ngot "$BOB" mutt-sent)" = 1 ] || { echo "bob has $(ngot "$BOB" mutt-sent)"; return 1; }
	ciphertext "$(got "$BOB" mutt-sent)" "$T/bob.pem"
}
t "the copy Postfix delivered to bob is S/MIME ciphertext sealed to bob's certificate: no word of the body or subject" t_delivered

t_sent() {
	stored alice Sent mutt-sent@example.test >"$T/sent.server" &&
		ciphertext "$T/sent.server" "$T/alice.pem"
}
t "neomutt's Sent copy (APPEND through alice's bridge) is ciphertext on the server, sealed to alice" t_sent

t_sent_reads() {
	keys alice c && wait_for alice 10 '^Open mailbox' &&
		typed alice '=Sent' && keys alice Enter &&
		wait_until alice 20 "an index of one" listed alice 1 &&
		pager alice || return 1
	grep '^X-Letterlock-Status' "$T/alice.screen"
	grep -q "^X-Letterlock-Status: encrypted, decrypted .*; signature valid by $ALICE" \
		"$T/alice.screen" &&
		grep -q 'the secret word is pumpernickel' "$T/alice.screen"
}
t "alice reads her Sent copy in neomutt through her bridge: plaintext, signature valid by her" t_sent_reads

t_tampered_upload() {
	{
		printf 'From: Alice <%s>\r\nTo: Bob <%s>\r\n' "$ALICE" "$BOB"
		printf 'Subject: tampered\r\nMessage-ID: <tampered@example.test>\r\n'
		printf '\r\nPay the invoice to account 1234.\r\n'
	} >"$T/tampered.eml"
	ll alice seal --sign-only -o "$T/signed.eml" "$T/tampered.eml" || return 1
	sed 's/1234/6666/' "$T/signed.eml" >"$T/tampered.eml"
	! cmp -s "$T/signed.eml" "$T/tampered.eml" &&
		direct bob --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
			-T "$T/tampered.eml"
}
t "a message signed by alice whose body was changed on the way lands in bob's INBOX" t_tampered_upload

t_bob_starts() {
	mutt_start bob && wait_until bob 30 "an index of two" listed bob 2
}
t "bob's neomutt logs in to his bridge's IMAP: two messages" t_bob_starts

t_index_subject() {
	grep '^msg ' "$T/bob.screen" | sed 's/ *$//'
	grep -Eq '^msg +[0-9]+ \| Alice +\| the quarterly figures' "$T/bob.screen"
}
t "bob's index shows the real subject of the encrypted message" t_index_subject

t_bob_reads() {
	limit bob '~i mutt-sent@example.test' 1 && pager bob || return 1
	grep '^X-Letterlock-Status' "$T/bob.screen"
	grep -Eq "^X-Letterlock-Status: encrypted, decrypted [^;]+; signature valid by $ALICE; timestamp " "$T/bob.screen" &&
		grep -q '^Subject: the quarterly figures' "$T/bob.screen" &&
		grep -q 'the secret word is pumpernickel' "$T/bob.screen" &&
		[ "$(grep -c '^X-Letterlock-Status' "$T/bob.screen")" = 1 ]
}
t "bob opens it in neomutt: the pager shows the plaintext, its subject and X-Letterlock-Status encrypted, signature valid by alice" t_bob_reads

t_peek() {
	fetched bob
	fetched bob | grep -q 'BODY.PEEK\[\]$' &&
		! fetched bob | grep -v 'BODY.PEEK\[\]$'
}
t "neomutt fetched the whole message (BODY.PEEK[]), which the bridge answers with the opened one" t_peek

t_tampered() {
	back bob && limit bob all 2 &&
		limit bob '~i tampered@example.test' 1 && pager bob || return 1
	grep '^X-Letterlock-Status' "$T/bob.screen"
	grep -q '^X-Letterlock-Status: not encrypted; signature invalid' "$T/bob.screen" &&
		! grep -q 'signature valid' "$T/bob.screen" &&
		grep -q 'account 6666' "$T/bob.screen"
}
t "the tampered message: the pager shows signature invalid, never valid" t_tampered

t_search_local() {
	back bob && limit bob all 2 && limit bob '~B pumpernickel' 0 1 &&
		grep -Eq '^msg +[0-9]+ \| Alice +\| (\[\.\.\.\]|the quarterly figures)' "$T/bob.screen"
}
t "neomutt's own body search (l ~B: it fetches each message through the bridge) finds a word of the encrypted body" t_search_local

t_search_server() {
	limit bob all 2 && limit bob '=B pumpernickel' 0 1 || return 1
	grep -E '^(msg|No messages)' "$T/bob.screen"
	grep -Eq '^msg +[0-9]+ \| Alice +\| ' "$T/bob.screen"
}
t "the server-side body search (l =B: IMAP SEARCH through the bridge) finds a word of the encrypted body" t_search_server

t_log_clean() {
	local who
	for who in alice bob; do
		! grep -F "$(ll "$who" bridge --show-password)" "$T/$who.bridge.log" &&
			! grep -F "$(cat "$T/$who.password")" "$T/$who.bridge.log" &&
			! grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' \
				"$T/$who.bridge.log" || return 1
	done
}
t "the bridges' logs hold no password and no sanitizer report" t_log_clean
finish
