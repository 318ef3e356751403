#!/bin/bash
# test_bridge_dualcert.sh - the bridge's IMAP side harvests as
# `letterlock open` does: carol, who signs with one certificate and
# decrypts with another, signs with NSS cmsutil naming her encryption
# certificate (SMIMEEncryptionKeyPreference); the message lies in bob's
# mailbox at Dovecot; bob reads it through his bridge (signature valid),
# and both of carol's certificates are then his contacts, the signing
# one for signing, the encryption one to encrypt to.  Her next message,
# naming a new encryption certificate and read in one session with the
# first, leaves that one pending (a key change), said in the bridge's
# log.  The rest of the case (what seal makes of them) is
# test_dualcert.sh's.
#
# Output: TAP.  Needs root and scripts/setup's packages; skips
# otherwise.  KEEP_TMP=1 keeps the directory.
#
# shellcheck disable=SC2317,SC2034,SC1091,SC2015
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"
. "$here/peers.sh"

BOB=bob@example.test

lldtest_init bridge_dualcert "the bridge harvests an encryption certificate"
unset MAILSTACK_PASSWORD
. "$here/bridgetest.sh"
bridge_bob
on_cleanup_bridge=$(declare -f on_cleanup | tail -n +2)
eval "bridge_cleanup() $on_cleanup_bridge"
on_cleanup() {
	peers_cleanup
	bridge_cleanup
}

P=$T/pki
bash "$here/mkpki.sh" "$P" >"$T/mkpki.log" 2>&1 || fatal "mkpki.sh failed"
peers_init "$P" "$T/peers"
st() { python3 "$here/smimetool.py" "$@"; }
fpr() {
	openssl x509 -in "$P/$1.pem" -noout -fingerprint -sha256 |
		sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}

lldtest_stack "mail stack up"

# carol's message, signed by NSS with her signing certificate, naming
# her encryption certificate
t_carol_signs() {
	local db
	nss_setup carol-sign || { peer_diag; return 1; }
	db=$(_nss_db carol-sign)
	_peer pk12util -i "$P/carol-enc.p12" -d "$db" -w "$P/p12pass" -K "" ||
		{ peer_diag; return 1; }
	printf '%s\r\n' "Content-Type: text/plain; charset=us-ascii" "" \
		"the word is marzipan" >"$T/entity.txt"
	_peer cmsutil -S -d "$db" -p "" -G -P -H SHA256 -N carol-sign \
		-Y carol-enc -T -i "$T/entity.txt" -o "$T/dual.sig" ||
		{ peer_diag; return 1; }
	st wrap-signed "$T/entity.txt" "$T/dual.sig" "$T/dual.eml" sha-256 \
		"From: carol <carol@example.test>" "To: bob <$BOB>" \
		"Subject: two certificates" "Message-ID: <dual@example.test>"
}
t "carol signs with NSS, naming her encryption certificate" t_carol_signs

# bob: his identity and the test root, his account, his bridge
t_bob() {
	ll bob identity import "$P/bob-rsa.p12" --passphrase-file "$P/p12pass" \
		>/dev/null && ll bob trust add "$P/root.pem" >/dev/null || return 1
	pw "$BOB" >"$T/bob.password"
	ll bob account add "$BOB" \
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT" \
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--password-file "$T/bob.password" \
		--ca-file "$MAILSTACK_CA_FILE" || return 1
	printf '[bridge]\nsmtp_port = %s\nimap_port = %s\n' "$SPORT" "$IPORT" \
		>"$T/bob/letterlock.conf"
	[ -z "$(ll bob contact list)" ] && upload dual && bridge_start
}
t "bob's home, account and bridge; carol's message in his mailbox" t_bob
BPW=$(ll bob bridge --show-password)

t_read() {
	local u
	u=$(uid dual)
	[ -n "$u" ] || return 1
	via "$BPW" "INBOX;UID=$u"
	echo "$OUT" | head -n 8
	[ "$RC" = 0 ] &&
		echo "$OUT" | grep -q '^X-Letterlock-Status: .*signature valid by carol@example.test' &&
		echo "$OUT" | grep -q 'the word is marzipan'
}
t "bob reads it through the bridge: signature valid by carol" t_read

t_harvest() {
	ll bob contact list >"$T/list" || return 1
	cat "$T/list"
	grep -qx "carol@example.test $(fpr carol-sign) current harvested until .* sign" "$T/list" &&
		grep -qx "carol@example.test $(fpr carol-enc) current harvested until .* encrypt" "$T/list" &&
		[ "$(wc -l <"$T/list")" = 2 ]
}
t "both of carol's certificates are harvested: one to sign, one to encrypt to" t_harvest

# a second message naming her next encryption certificate, read in one
# session with the first: the session's ring of kept certificates holds
# her signing certificate already, the new one is kept all the same,
# as a key change (pending)
t_change() {
	local db
	db=$(_nss_db carol-sign)
	_peer pk12util -i "$P/carol-enc2.p12" -d "$db" -w "$P/p12pass" -K "" &&
		_peer cmsutil -S -d "$db" -p "" -G -P -H SHA256 -N carol-sign \
			-Y carol-enc2 -T -i "$T/entity.txt" -o "$T/dual2.sig" ||
		{ peer_diag; return 1; }
	st wrap-signed "$T/entity.txt" "$T/dual2.sig" "$T/dual2.eml" sha-256 \
		"From: carol <carol@example.test>" "To: bob <$BOB>" \
		"Subject: a new encryption certificate" \
		"Message-ID: <dual2@example.test>" && upload dual2 || return 1
	via "$BPW" "INBOX" -X "UID FETCH $(uid dual),$(uid dual2) (BODY.PEEK[])"
	[ "$RC" = 0 ] && [ "$(echo "$OUT" | grep -c '^\* [0-9]* FETCH')" = 2 ] ||
		{ echo "$OUT" | head -n 20; return 1; }
	ll bob contact list >"$T/list" || return 1
	cat "$T/list"
	grep -qx "carol@example.test $(fpr carol-enc2) pending harvested until .* encrypt" "$T/list" &&
		grep -qx "carol@example.test $(fpr carol-enc) current harvested until .* encrypt" "$T/list" &&
		grep -q "carol@example.test asks to be encrypted to a key other than the one known" "$BLOG"
}
t "a new encryption certificate in the same session: kept as pending, and said" t_change

finish
