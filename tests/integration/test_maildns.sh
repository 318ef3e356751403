#!/bin/bash
# Cases are run through t(); shellcheck cannot see that.
# shellcheck disable=SC2317
#
# test_maildns.sh - letterlockd's DKIM and CAA checks (src/service/mail.h)
# against the local mail stack (scripts/mailstack, doc/mailstack.md):
#
#  - a reply submitted by alice@example.test (SASL, DKIM-signed by the
#    stack's OpenDKIM) to acme@ca.test, fetched over IMAP, passes
#    lld_dkim_verify for d=example.test through the stack's resolver
#    configuration (CRLF as fetched, and with LF line ends); it fails
#    for d=ca.test, after a change to its body, and a forged copy sent
#    unsigned through the MX port fails;
#  - lld_caa_check (RFC 8659 climbing, RFC 9495 issuemail) with CAA
#    records changed by `mailstack dns-add/dns-del`: the stack's
#    issuemail "ca.test", none at all, issuemail "other.test", ";",
#    "ca.test" with parameters, an unknown critical property; a
#    subdomain climbs to its parent; a failed lookup forbids.
#
# The checks run through build/tests/unit/dkimcheck (a front to the two
# functions; DKIMCHECK overrides, default: next to $LETTERLOCK's build
# tree).  Output: TAP.  Needs root and the packages of scripts/setup.
# Ports (away from the mailstack defaults and test_mailstack.sh's):
# MAILSTACK_SMTP_PORT 13525, MAILSTACK_SUBMISSION_PORT 13587,
# MAILSTACK_SUBMISSIONS_PORT 13465, MAILSTACK_IMAP_PORT 13143,
# MAILSTACK_IMAPS_PORT 13993, MAILSTACK_DNS_PORT 13053.
#   KEEP_TMP=1   keep the temporary directory (and the stack's files)
set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
MS=$top/scripts/mailstack
# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "ok - mail stack DKIM and CAA # SKIP needs root (Postfix, Dovecot, NSD)"
	exit 0
fi
for p in postfix dovecot opendkim nsd nsd-control curl; do
	command -v "$p" >/dev/null 2>&1 ||
		bail "no $p (install the packages of scripts/setup)"
done

abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
if [ -z "${DKIMCHECK:-}" ] && [ -n "${LETTERLOCK:-}" ]; then
	DKIMCHECK=$(dirname "$(dirname "$(dirname "$(abs "$LETTERLOCK")")")")/tests/unit/dkimcheck
fi
DKIMCHECK=$(abs "${DKIMCHECK:-$top/build/tests/unit/dkimcheck}")
[ -x "$DKIMCHECK" ] || bail "no dkimcheck at $DKIMCHECK (build tests/unit)"

export MAILSTACK_SMTP_PORT=${MAILSTACK_SMTP_PORT:-13525}
export MAILSTACK_SUBMISSION_PORT=${MAILSTACK_SUBMISSION_PORT:-13587}
export MAILSTACK_SUBMISSIONS_PORT=${MAILSTACK_SUBMISSIONS_PORT:-13465}
export MAILSTACK_IMAP_PORT=${MAILSTACK_IMAP_PORT:-13143}
export MAILSTACK_IMAPS_PORT=${MAILSTACK_IMAPS_PORT:-13993}
export MAILSTACK_DNS_PORT=${MAILSTACK_DNS_PORT:-13053}
unset MAILSTACK_PASSWORD MAILSTACK_DOMAINS MAILSTACK_USERS

tap_init maildns
# the daemons' users (postfix, dovecot, nsd, ...) must reach $T/stack
chmod 755 "$T"
D=$T/stack
on_cleanup() {
	if [ -d "$D" ]; then
		"$MS" down "$D" >/dev/null 2>&1
	fi
	return 0
}

timeout 120 "$MS" up "$D" >"$T/up.log" 2>&1 ||
	bail "mailstack up failed: $(tail -n 5 "$T/up.log" | tr '\n' ' ')"
# shellcheck disable=SC1091
. "$D/env"

pw() {
	awk -v u="$1" 'index($0, u ":") == 1 { print substr($0, length(u) + 2) }' \
		"$MAILSTACK_USERS_FILE"
}

# exits CODE CMD...: CMD exits with CODE (its output is shown).
exits() {
	local want=$1 rc
	shift
	"$@"
	rc=$?
	[ "$rc" -eq "$want" ] || { echo "exit $rc, expected $want"; return 1; }
}

dkim() { timeout 60 "$DKIMCHECK" dkim "$1" "$2" "$3"; }
caa() { timeout 60 "$DKIMCHECK" caa "$1" "$2" ca.test; }

# ---- DKIM ------------------------------------------------------------

TOKEN=Zm9vYmFyYmF6cXV1eDEyMzQ1Njc4OTBhYmNkZWZnaGlq
DIGEST=LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0
printf '%s\r\n' \
	"From: Alice <alice@example.test>" \
	"To: acme@ca.test" \
	"Subject: RE: ACME: $TOKEN" \
	"Date: $(date -R)" \
	"Message-ID: <maildns-$$@example.test>" \
	"MIME-Version: 1.0" \
	"Content-Type: text/plain; charset=us-ascii" \
	"" \
	"-----BEGIN ACME RESPONSE-----" \
	"$DIGEST" \
	"-----END ACME RESPONSE-----" >"$T/reply.eml"

imap_url="imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX"
acme_user="acme@ca.test:$(pw acme@ca.test)"

# fetch_new FILE: wait (20 s at most) for a message with a UID above
# $last_uid in acme@ca.test's INBOX and fetch it into FILE.
last_uid=0
fetch_new() {
	local uid
	for _ in $(seq 1 40); do
		uid=$(curl -sS --max-time 10 "$imap_url" --user "$acme_user" \
			-X "UID SEARCH ALL" 2>/dev/null |
			tr -d '\r' | awk '/^\* SEARCH/ { for (i = 3; i <= NF; i++) print $i }' |
			sort -n | tail -n 1)
		if [ -n "$uid" ] && [ "$uid" -gt "$last_uid" ]; then
			last_uid=$uid
			curl -sS --max-time 10 "$imap_url/;UID=$uid" \
				--user "$acme_user" -o "$1"
			return
		fi
		sleep 0.5
	done
	echo "no new message for acme@ca.test"
	return 1
}

submit() {
	curl -sS --max-time 30 "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--user "alice@example.test:$(pw alice@example.test)" \
		--mail-from alice@example.test --mail-rcpt acme@ca.test \
		--upload-file "$T/reply.eml" &&
		fetch_new "$T/signed.eml" &&
		grep -qi '^DKIM-Signature:.*d=example.test' "$T/signed.eml"
}
t "alice's reply is submitted, DKIM-signed and fetched from IMAP" submit
[ -s "$T/signed.eml" ] || bail "no signed reply to check"

t "DKIM passes for d=example.test" \
	exits 0 dkim "$MAILSTACK_RESOLVER_CONF" example.test "$T/signed.eml"
tr -d '\r' <"$T/signed.eml" >"$T/signed-lf.eml"
t "DKIM passes with LF line ends" \
	exits 0 dkim "$MAILSTACK_RESOLVER_CONF" example.test "$T/signed-lf.eml"
t "DKIM fails for d=ca.test (no such signature)" \
	exits 1 dkim "$MAILSTACK_RESOLVER_CONF" ca.test "$T/signed.eml"
sed "s/^$DIGEST/${DIGEST%?}A/" "$T/signed.eml" >"$T/altered.eml"
differ() { ! cmp -s "$1" "$2"; }
t "the body was altered for the next case" \
	differ "$T/signed.eml" "$T/altered.eml"
t "DKIM fails after the body was altered" \
	exits 1 dkim "$MAILSTACK_RESOLVER_CONF" example.test "$T/altered.eml"
sed 's/^Subject: RE: ACME:/Subject: Re: ACME:/' "$T/signed.eml" >"$T/altered-hdr.eml"
t "DKIM fails after a signed header field was altered" \
	exits 1 dkim "$MAILSTACK_RESOLVER_CONF" example.test "$T/altered-hdr.eml"

forge() {
	curl -sS --max-time 30 "smtp://127.0.0.1:$MAILSTACK_SMTP_PORT" \
		--mail-from alice@example.test --mail-rcpt acme@ca.test \
		--upload-file "$T/reply.eml" &&
		fetch_new "$T/forged.eml" &&
		! grep -qi '^DKIM-Signature:' "$T/forged.eml"
}
t "a forged reply arrives unsigned through the MX port" forge
t "DKIM fails for the forged reply" \
	exits 1 dkim "$MAILSTACK_RESOLVER_CONF" example.test "$T/forged.eml"

# ---- CAA -------------------------------------------------------------

# The stack's resolver configuration sends the test domains to NSD and
# leaves the special-use TLD "test." to recursion, which has nowhere to
# go here: the last step of RFC 8659's climb (CAA at "test.") fails.  A
# real TLD without CAA answers with no records; so does "test." with
# this copy, where unbound answers it itself.
R=$T/resolver.conf
domains=$(sed -n 's/^[[:space:]]*name: "\(.*\)"/\1/p' "$MAILSTACK_RESOLVER_CONF")
{
	sed '/local-zone: "test." nodefault/d' "$MAILSTACK_RESOLVER_CONF" |
		sed '/^server:/q'
	echo '	local-zone: "test." static'
	for d in $domains; do
		echo "	local-zone: \"$d.\" transparent"
	done
	sed '/local-zone: "test." nodefault/d' "$MAILSTACK_RESOLVER_CONF" |
		sed '1,/^server:/d'
} >"$R"
t "a resolver configuration with the TLD test. answered locally" \
	grep -q 'local-zone: "example.test." transparent' "$R"

dns() { "$MS" "$1" "$D" "${@:2}" >/dev/null; }

t "CAA: the stack's issuemail \"ca.test\" allows ca.test" \
	exits 0 caa "$R" example.test
t "CAA: a subdomain climbs to example.test (allowed)" \
	exits 0 caa "$R" x.y.example.test
dns dns-del example.test CAA
t "CAA: no CAA record up to the TLD allows" exits 0 caa "$R" example.test
t "CAA: a failed lookup on the way forbids (stack resolver, test. fails)" \
	exits 3 caa "$MAILSTACK_RESOLVER_CONF" example.test
dns dns-add example.test CAA 0 issuemail '"other.test"'
t "CAA: issuemail \"other.test\" forbids" exits 1 caa "$R" example.test
t "CAA: ... and for a subdomain too" exits 1 caa "$R" x.example.test
dns dns-add example.test CAA 0 issuemail '"ca.test"'
t "CAA: one of two issuemail records names ca.test: allowed" \
	exits 0 caa "$R" example.test
dns dns-del example.test CAA
dns dns-add example.test CAA 0 issuemail '";"'
t "CAA: issuemail \";\" forbids every CA" exits 1 caa "$R" example.test
dns dns-del example.test CAA
dns dns-add example.test CAA 0 issuemail '"ca.test; account=42"'
t "CAA: issuemail \"ca.test; account=42\" allows" \
	exits 0 caa "$R" example.test
dns dns-add example.test CAA 0 issue '"letsencrypt.org"'
t "CAA: an issue property beside it changes nothing" \
	exits 0 caa "$R" example.test
dns dns-add example.test CAA 128 tbs '"x"'
t "CAA: an unknown critical property forbids" exits 1 caa "$R" example.test
dns dns-del example.test CAA
dns dns-add example.test CAA 0 tbs '"x"'
t "CAA: an unknown property that is not critical is ignored" \
	exits 0 caa "$R" example.test
t "CAA: ca.test's own record allows" exits 0 caa "$R" ca.test

exit 0
