#!/bin/bash
# test_imap_body.sh - the FETCH items the bridge answers from a message
# (src/bridge/imap_body.c, imap_msg.c, imap_bodystruct.c) against
# Dovecot's answers for the same message: a differential test.
#
# Each message of tests/data/imap_body/ (plain, without Content-Type,
# alternative, attachments, nested multiparts, message/rfc822, RFC 2231
# parameters, encoded words, groups and odd addresses, 8-bit headers,
# LF line ends, long and folded headers, an empty body, a boundary that
# never comes, a missing close delimiter, S/MIME multipart/signed, a
# digest, boundaries that are prefixes of each other, 300 parts, ...)
# is APPENDed to a Dovecot of its own (its imap process run
# pre-authenticated on a pipe: no port, no daemon, gone when the test
# ends) and FETCHed item by item: BODYSTRUCTURE, BODY, ENVELOPE,
# RFC822.SIZE, RFC822[.HEADER|.TEXT], BODY[] and sections by number
# with MIME, HEADER, TEXT, HEADER.FIELDS[.NOT], partial fetches (the
# list: ITEMS in imap_body_diff.py).  build/tests/unit/imap_body_tool
# renders the same items from what Dovecot stored; the bytes must be
# the same.
#
# Normalised, and why:
#  - the tool reads Dovecot's own BODY[] of the message, not the file:
#    Dovecot stores LF line ends as they are but answers with CRLF (and
#    counts sizes so), and the bridge's messages always have CRLF;
#  - Dovecot adds "FLAGS (\Seen)" to the first response that sets
#    \Seen; the bridge's FETCH handler, not imap_body.c, answers flags.
# Nothing else: types and parameter names in their case, Dovecot's
# defaults, its quoting and its reading of broken structure are
# matched, not normalised.  Not compared: nesting deeper than
# IMAP_BODY_DEPTH_MAX (32; Dovecot allows 100) and messages with NUL
# (no IMAP literal may carry them: tests/unit/test_imap_body.c).
# Known to differ, on garbage only (found by feeding fuzz_imapbody's
# inputs to this comparison): how an address list that is no address
# list is salvaged, a bare CR inside a header line, a header whose
# first line is a continuation line.
#
# Output: TAP.  Needs root (Dovecot's imap drops to nobody) and
# Dovecot (scripts/setup); skips otherwise.  IMAP_BODY_TOOL overrides
# the tool (default: next to $LETTERLOCK's build tree, else build/).
#   KEEP_TMP=1   keep the temporary directory
set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/integration/tap.sh
. "$here/tap.sh"

DOVECOT_IMAP=/usr/lib/dovecot/imap
if [ "$(id -u)" -ne 0 ]; then
	echo "ok - FETCH items against Dovecot # SKIP needs root"
	exit 0
fi
[ -x "$DOVECOT_IMAP" ] || bail "no $DOVECOT_IMAP (run scripts/setup)"
command -v python3 >/dev/null || bail "no python3"

abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
if [ -z "${IMAP_BODY_TOOL:-}" ] && [ -n "${LETTERLOCK:-}" ]; then
	IMAP_BODY_TOOL=$(dirname "$(dirname "$(dirname "$(abs "$LETTERLOCK")")")")/tests/unit/imap_body_tool
fi
TOOL=$(abs "${IMAP_BODY_TOOL:-$top/build/tests/unit/imap_body_tool}")
[ -x "$TOOL" ] || bail "no imap_body_tool at $TOOL (build tests/unit)"

tap_init imap_body
# Dovecot's imap runs as nobody: its directories are nobody's
chmod 755 "$T"
mkdir -p "$T/dovecot/run" "$T/dovecot/state" "$T/mail" "$T/cmp"
cat >"$T/dovecot/dovecot.conf" <<CONF
# a Dovecot for one test's mailbox, run as "imap -c" on a pipe
base_dir = $T/dovecot/run
state_dir = $T/dovecot/state
log_path = $T/dovecot/dovecot.log
ssl = no
protocols = imap
mail_location = maildir:$T/mail/Maildir
mail_uid = nobody
mail_gid = nogroup
CONF
chown -R nobody:nogroup "$T/mail" "$T/dovecot" "$T/cmp"

same_as_dovecot() {
	timeout 120 python3 "$here/imap_body_diff.py" compare \
		"$T/dovecot/dovecot.conf" "$TOOL" "$1" "$T/cmp" 2>&1
}

for msg in "$top"/tests/data/imap_body/*.eml; do
	tcase "$(basename "$msg"): the items as Dovecot answers them" \
		same_as_dovecot "$msg"
done
plan
