/*
 * kh_internal.h - shared by the keyholder's files only: keyholder.c
 * (the process and the front's calls), kh_wire.c (frames), kh_keys.c
 * (DIR/keys), kh_journal.c (DIR/keyholder.db), kh_issue.c,
 * kh_revoke.c (CRL, OCSP) and kh_mail.c (the challenge mail).
 *
 * Frames, both ways, on a SOCK_STREAM socketpair:
 *
 *   u32 magic "LLKH" | u16 type | u16 zero | u32 payload length | payload
 *
 * Integers are big-endian.  The payload is the fields of its type in a
 * fixed order: integers (u8, u32, i32, i64) and byte strings (u32
 * length, then the octets), each string with a maximum length and, for
 * text, a character class.  A frame's length is checked against the
 * maximum of its type before any of its payload is read.
 *
 *   type   front -> keyholder              keyholder -> front
 *   READY                                  (loaded; no fields)
 *   ISSUE  i64 order, email, spki,         serial, der
 *          u32 usage, i32 days
 *   CRL    i64 now, u32 n, n x (serial,    der
 *          i64 when, i32 reason)
 *   OCSP   u8 sha256, serial, u8 status,   der
 *          i64 revoked, i32 reason,
 *          nonce, i64 now
 *   MAIL   to, token1, msgid, i64 now      message
 *   TSA    u8 hash, u8 null params,        der (a TimeStampResp)
 *          imprint, nonce, u8 certReq
 *   ERROR                                  i32 code, message, detail
 *
 * A keyholder serves one role (keyholder.h): the CA's takes ISSUE, CRL,
 * OCSP and MAIL; the TSA's takes TSA only.  A frame of the other role
 * is out of shape.
 *
 * A reply carries its request's type with KH_REPLY set, or is an ERROR.
 * The keyholder exits on the first frame out of shape (STYLE.md 7);
 * the front checks the same rules before it sends, so only a broken
 * front trips them.
 */
#ifndef LLD_KH_INTERNAL_H
#define LLD_KH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include <letterlock/letterlock.h>

#include "keyholder.h"
#include "service.h"
#include "tsa.h"

#define KH_MAGIC 0x4c4c4b48u /* "LLKH" */
#define KH_HDR 12
#define KH_REPLY 0x100u
#define KH_CERT_MAX (32 * 1024) /* an issued certificate, DER */
#define KH_OCSP_MAX (16 * 1024)
#define KH_MAIL_MAX (64 * 1024)
#define KH_CRL_ENTRY_MAX 64 /* DER octets of one revoked entry */
#define KH_CRL_DER_MAX (4096 + (size_t)LLD_KH_CRL_MAX * KH_CRL_ENTRY_MAX)
#define KH_MALFORMED 1 /* a handler's verdict: the request is out of shape */

enum kh_type {
	KH_READY = 1,
	KH_ISSUE = 2,
	KH_CRL = 3,
	KH_OCSP = 4,
	KH_MAIL = 5,
	KH_TSA = 6,
	KH_ERROR = 0x7f,
};

/* Field sizes: a string is its u32 length and at most MAX octets. */
#define F_STR(max) (4 + (size_t)(max))
#define KH_ISSUE_REQ_MAX \
	(8 + F_STR(LLD_EMAIL_MAX) + F_STR(LL_CA_SPKI_MAX) + 4 + 4)
#define KH_CRL_REQ_MAX \
	(8 + 4 + (size_t)LLD_KH_CRL_MAX * (F_STR(LLD_SERIAL_MAX) + 8 + 4))
#define KH_OCSP_REQ_MAX \
	(1 + F_STR(LLD_SERIAL_MAX) + 1 + 8 + 4 + F_STR(LLD_OCSP_NONCE_MAX) + 8)
#define KH_MAIL_REQ_MAX \
	(F_STR(LLD_EMAIL_MAX) + F_STR(LLD_TOKEN_MAX) + F_STR(LLD_MSGID_MAX) + 8)
#define KH_TSA_REQ_MAX \
	(1 + 1 + F_STR(LLD_TSA_IMPRINT_MAX) + F_STR(LLD_TSA_NONCE_MAX) + 1)
#define KH_ERROR_MAX \
	(4 + F_STR(LL_ERROR_MSG_MAX - 1) + F_STR(LL_ERROR_DETAIL_MAX - 1))

/* ---- kh_wire.c: errors ---- */

/* CODE with a message from FMT into ERR (may be NULL); returns CODE. */
int kh_err(struct ll_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same, and OpenSSL's error queue drained into err->detail. */
int kh_err_ossl(struct ll_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix err->message with "DIR/WHAT: ", the files it is about;
 * returns RC. */
int kh_about(struct ll_error *err, int rc, const char *dir, const char *what);

/* ---- kh_wire.c: fields ---- */

/* Character classes of text fields. */
int kh_c_hex(unsigned char c); /* lower-case hex */
int kh_c_token(unsigned char c); /* base64url */
int kh_c_mailbox(unsigned char c); /* of a dot-atom mailbox */
int kh_c_visible(unsigned char c); /* visible ASCII */
int kh_c_any(unsigned char c); /* any octet but NUL */

/* Control characters of S made '?'. */
void kh_printable(char *s);

/* S is MIN..MAX octets of class CLS. */
int kh_text_ok(const char *s, size_t min, size_t max,
	       int (*cls)(unsigned char));
/* A mailbox, a Message-ID ("<...>"), a time (1970..9999), a CRLReason
 * (RFC 5280 5.3.1; 7 is not used) or -1, as the fields take them. */
int kh_mailbox_ok(const char *s);
int kh_msgid_ok(const char *s);
int kh_time_ok(int64_t t);
int kh_reason_ok(int64_t r);

/* ---- kh_wire.c: writing a frame; a failed write sets oom, which
 * kh_w_end reports ---- */

struct kh_wbuf {
	unsigned char *p;
	size_t len, cap;
	int oom;
};

void kh_w_u8(struct kh_wbuf *w, unsigned v);
void kh_w_u32(struct kh_wbuf *w, uint32_t v);
void kh_w_i32(struct kh_wbuf *w, int32_t v);
void kh_w_i64(struct kh_wbuf *w, int64_t v);
void kh_w_bytes(struct kh_wbuf *w, const void *p, size_t n);
void kh_w_str(struct kh_wbuf *w, const char *s);
/* Start a frame of TYPE in W (emptied). */
void kh_w_begin(struct kh_wbuf *w, unsigned type);
/* Finish the frame: its payload length into the header; -1 if a write
 * failed. */
int kh_w_end(struct kh_wbuf *w);
void kh_w_free(struct kh_wbuf *w);
/* An ERROR frame for CODE and ERR into W (restarted). */
void kh_w_error(struct kh_wbuf *w, int code, const struct ll_error *err);

/* ---- kh_wire.c: reading a payload; a field out of shape sets bad,
 * and every later read gives nothing ---- */

struct kh_rbuf {
	const unsigned char *p;
	size_t len, pos;
	int bad;
};

unsigned kh_r_u8(struct kh_rbuf *r);
uint32_t kh_r_u32(struct kh_rbuf *r);
int32_t kh_r_i32(struct kh_rbuf *r);
int64_t kh_r_i64(struct kh_rbuf *r);
/* A byte string of at most MAX octets; borrowed from R. */
const unsigned char *kh_r_bytes(struct kh_rbuf *r, size_t max, size_t *n);
/* Text of MIN..CAP-1 octets of class CLS into DST, NUL-terminated. */
void kh_r_text(struct kh_rbuf *r, char *dst, size_t cap, size_t min,
	       int (*cls)(unsigned char));
/* All of the payload was read, and in shape. */
int kh_r_done(const struct kh_rbuf *r);

/* ---- kh_wire.c: the socket ---- */

/* CLOCK_MONOTONIC in milliseconds. */
int64_t kh_mono_ms(void);
/* Write the N octets at P by DEADLINE (kh_mono_ms; < 0: no limit). */
int kh_send_all(int fd, const unsigned char *p, size_t n, int64_t deadline);

struct kh_hdr {
	unsigned type;
	size_t len;
};

/* Read and check a header: magic, zero field.  0; 1: the end of the
 * stream; -1: an I/O error or time out; -2: out of shape. */
int kh_recv_hdr(int fd, struct kh_hdr *h, int64_t deadline);
/* The payload of H into *out (malloc'd; at least one octet). */
int kh_recv_payload(int fd, const struct kh_hdr *h, unsigned char **out,
		    int64_t deadline);

/* ---- the keyholder process ---- */

struct kh_tsa;

struct keyholder {
	int fd;
	enum lld_kh_role role;
	const struct lld_conf *conf;
	/* LLD_KH_TSA: the time-stamping unit, and nothing below */
	struct kh_tsa *tsa;
	/* LLD_KH_CA */
	struct ll_ca *ca; /* issues */
	X509 *ca_cert; /* names the CRL and the OCSP CertID */
	EVP_PKEY *ca_key; /* signs the CRL */
	X509 *ocsp_cert;
	EVP_PKEY *ocsp_key;
	struct ll_ctx *mail; /* the CA's mail identity; NULL: no [mail] */
	sqlite3 *db; /* the journal */
};

/* kh_keys.c: the keys and certificates of DIR its role needs, and
 * (LLD_KH_CA) the journal opened; errors name the file.  kh_unload
 * frees what kh_load set. */
int kh_load(struct keyholder *k, const char *dir, struct ll_error *err);
void kh_unload(struct keyholder *k);

/* kh_journal.c: DIR/keyholder.db */
int kh_journal_open(struct keyholder *k, const char *dir, struct ll_error *err);
/* The certificate already journaled for ORDER into the reply W (*found
 * 1), or nothing (*found 0).  LL_EEXIST if ORDER was issued for another
 * request (DIGEST). */
int kh_journal_find(struct keyholder *k, int64_t order,
		    const unsigned char digest[32], struct kh_wbuf *w,
		    int *found, struct ll_error *err);
/* Journal the certificate of ORDER; committed (and synced, by
 * synchronous=FULL) when this returns 0. */
int kh_journal_add(struct keyholder *k, int64_t order, const char *serial,
		   const unsigned char digest[32], const unsigned char *der,
		   size_t derlen, struct ll_error *err);
/* The next CRL number, journaled before it is used. */
int kh_journal_crl_number(struct keyholder *k, int64_t *out,
			  struct ll_error *err);

/*
 * The requests: read the fields from R, answer into W (begun with the
 * reply's type).  0; a negative LL_E* code for an ERROR reply (ERR
 * says why); KH_MALFORMED when a field is out of shape, which ends
 * the keyholder.
 */
int kh_op_issue(struct keyholder *k, struct kh_rbuf *r, struct kh_wbuf *w,
		struct ll_error *err); /* kh_issue.c */
int kh_op_crl(struct keyholder *k, struct kh_rbuf *r, struct kh_wbuf *w,
	      struct ll_error *err); /* kh_revoke.c */
int kh_op_ocsp(struct keyholder *k, struct kh_rbuf *r, struct kh_wbuf *w,
	       struct ll_error *err); /* kh_revoke.c */
int kh_op_mail(struct keyholder *k, struct kh_rbuf *r, struct kh_wbuf *w,
	       struct ll_error *err); /* kh_mail.c */
int kh_op_tsa(struct keyholder *k, struct kh_rbuf *r, struct kh_wbuf *w,
	      struct ll_error *err); /* kh_tsa.c */

/* kh_tsa.c: what signs tokens with KEY, the unit's certificate CERT
 * under CA, for POLICY (dotted OID); KEY is referenced, not taken. */
int kh_tsa_new(struct kh_tsa **out, X509 *cert, X509 *ca, EVP_PKEY *key,
	       const char *policy, struct ll_error *err);
void kh_tsa_free(struct kh_tsa **pp);

#endif
