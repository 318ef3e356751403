/*
 * internal.h - shared between libletterlock's own files only.
 */
#ifndef LL_INTERNAL_H
#define LL_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/ocsp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include <letterlock/letterlock.h>

#define LL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* error.c */
int ll_err(struct ll_error *err, int code, enum ll_errclass klass,
	   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Like ll_err, and drains the OpenSSL error queue into err->detail. */
int ll_err_ossl(struct ll_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A growable byte buffer.  Wiped on free when WIPE is set. */
struct ll_buf {
	char *p;
	size_t len;
	size_t cap;
	int wipe;
};
int ll_buf_reserve(struct ll_buf *b, size_t extra);
int ll_buf_add(struct ll_buf *b, const void *p, size_t n);
int ll_buf_adds(struct ll_buf *b, const char *s);
int ll_buf_addf(struct ll_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ll_buf_free(struct ll_buf *b);

/* fdio.c: all LEN bytes of DATA to FD, EINTR retried; -1 with errno
 * set (0 for a write that wrote nothing). */
int ll_write_all(int fd, const void *data, size_t len);

/* b64.c: base64 with CRLF every 76 characters; strict decoder. */
size_t ll_b64_encoded_len(size_t n);
int ll_b64_encode(struct ll_buf *out, const unsigned char *in, size_t n);
/* Decode IN (whitespace ignored).  *out malloc'd.  -1 on bad input. */
int ll_b64_decode(unsigned char **out, size_t *outlen, const char *in,
		  size_t n);
/* The same into O, which has room for n / 4 * 3 + 3 bytes. */
int ll_b64_decode_into(unsigned char *o, size_t *outlen, const char *in,
		       size_t n);
/* A filter BIO that base64-encodes what is written through it. */
BIO *ll_bio_b64_new(void);
/* The same, appending the lines straight to OUT (borrowed; it must
 * outlive the BIO) instead of writing them on: nothing goes after it. */
BIO *ll_bio_b64_buf_new(struct ll_buf *out);
/*
 * The code paths behind the functions above, for the tests that compare
 * them: those pick the best the CPU has (BEST), looked up once; SCALAR
 * runs everywhere; AVX2 only where ll_b64_path_available says so (asking
 * for it elsewhere is a programming error).
 */
enum ll_b64_path {
	LL_B64_PATH_BEST,
	LL_B64_PATH_SCALAR,
	LL_B64_PATH_AVX2
};
int ll_b64_path_available(enum ll_b64_path path);
int ll_b64_encode_path(enum ll_b64_path path, struct ll_buf *out,
		       const unsigned char *in, size_t n);
int ll_b64_decode_into_path(enum ll_b64_path path, unsigned char *o,
			    size_t *outlen, const char *in, size_t n);
/* bio.c: a sink BIO calling FN (0 ok, < 0 error) for what is written;
 * and one appending to BUF (borrowed; it must outlive the BIO). */
BIO *ll_bio_sink_new(int (*fn)(void *arg, const char *p, size_t n),
		     void *arg);
struct ll_buf;
BIO *ll_bio_buf_new(struct ll_buf *buf);
/* Write all N bytes; 0 or LL_ECRYPTO. */
int ll_bio_put(BIO *b, const void *p, size_t n);
/* The same with every line end made CRLF. */
int ll_bio_put_crlf(BIO *b, const char *p, size_t n);

/* mime.c: the bounded splitter for what S/MIME needs byte-exactly. */
struct ll_slice {
	const char *p;
	size_t len;
};

struct ll_entity {
	struct ll_slice all;	/* the whole entity */
	struct ll_slice hdr;	/* header block, without the blank line */
	struct ll_slice body;
	const char *nl;		/* "\r\n" or "\n": first line end seen */
};

int ll_mime_split(struct ll_entity *e, const char *p, size_t len,
		  struct ll_error *err);

/* Iterate header fields.  *pos starts at 0.  Returns 1 with a field,
 * 0 at the end.  FIELD is the raw field with its line end(s). */
struct ll_field {
	struct ll_slice raw;
	struct ll_slice name;
	struct ll_slice value;	/* raw, folded, without the final line end */
};
int ll_mime_next_field(const struct ll_slice *hdr, size_t *pos,
		       struct ll_field *f);
int ll_field_is(const struct ll_field *f, const char *name);

/* The unfolded value of the first field NAME, malloc'd; NULL if absent. */
char *ll_mime_get(const struct ll_slice *hdr, const char *name);
/* Number of fields named NAME. */
size_t ll_mime_count(const struct ll_slice *hdr, const char *name);

struct ll_ctype {
	char type[64];		/* lower case */
	char subtype[64];	/* lower case */
	char boundary[128];
	char protocol[96];	/* lower case */
	char smime_type[48];	/* lower case */
	char name[96];
	char hp[16];
};
/* Parse the Content-Type of HDR (text/plain when absent). */
int ll_mime_ctype(struct ll_ctype *ct, const struct ll_slice *hdr,
		  struct ll_error *err);

/* Split a multipart body at BOUNDARY.  Up to MAX parts. */
int ll_mime_parts(struct ll_slice *parts, size_t max, size_t *n,
		  const struct ll_slice *body, const char *boundary,
		  struct ll_error *err);

/* Append a part's body decoded per its Content-Transfer-Encoding
 * (base64 or identity) to OUT. */
int ll_mime_decode_body(struct ll_buf *out, const struct ll_entity *e,
			struct ll_error *err);

/* Append P with every bare LF made CRLF (ll_bio_put_crlf). */
int ll_crlf_add(struct ll_buf *out, const char *p, size_t n);
int ll_has_bare_lf(const char *p, size_t n);
/* bare_lf.c: the offset of the first LF in P without a CR before it
 * (one at P[0] has none), or N when there is none.  ll_bare_lf uses
 * AVX2 when the CPU has it; ll_bare_lf_scalar is there to compare. */
size_t ll_bare_lf(const char *p, size_t n);
size_t ll_bare_lf_scalar(const char *p, size_t n);

/* msg_addr.c */
int ll_addr_parse_list(char ***out, const char *value, struct ll_error *err);
void ll_addr_normalise(char *addr);
int ll_addr_single_mailbox(const char *value);
int ll_addr_shows_other(const char *value, const char *addr);
void ll_gmime_init(void);

/* ctx.c */
OSSL_LIB_CTX *ll_ctx_libctx(const struct ll_ctx *ctx);
/* What every message's content and key wrap use, fetched once per
 * context; NULL if one cannot be fetched. */
struct ll_algs {
	EVP_CIPHER *cbc, *gcm; /* AES-256-CBC, -GCM */
	EVP_CIPHER *ecb; /* AES-256-ECB: the key wrap's blocks (aes_kw.c) */
	EVP_MD *sha256;
	EC_GROUP *p256; /* the EC seal's ephemeral keys (cms_env_ec.c) */
};
const struct ll_algs *ll_ctx_algs(struct ll_ctx *ctx);
/* An ECDH derive context for OWN (derive_init done; give it each peer
 * with EVP_PKEY_derive_set_peer_ex), kept for the next message with the
 * same key; the context's, not to be freed.  NULL on error. */
EVP_PKEY_CTX *ll_ctx_derive(struct ll_ctx *ctx, EVP_PKEY *own);
/* X's SHA-256 fingerprint: from the certificate cache when X came from
 * ll_ctx_cert_get (no re-encoding), else X509_digest.  0 or -1. */
int ll_ctx_cert_fpr(const struct ll_ctx *ctx, X509 *x, unsigned char fpr[32]);
/* The certificate encoded in DER, parsed once per context; a new
 * reference, or NULL if it does not parse. */
X509 *ll_ctx_cert_get(struct ll_ctx *ctx, const unsigned char *der,
		      size_t len);
X509_STORE *ll_ctx_store(struct ll_ctx *ctx);
/* 1 if ID is one of CTX's identities (they live as long as CTX). */
int ll_ctx_has_identity(const struct ll_ctx *ctx,
			const struct ll_identity *id);
/* The signer cms_signed.c keeps (the last identity that signed), or
 * NULL; setting one frees the one before. */
struct ll_signer *ll_ctx_signer(struct ll_ctx *ctx);
void ll_ctx_set_signer(struct ll_ctx *ctx, struct ll_signer *s);
time_t ll_ctx_now(const struct ll_ctx *ctx);
size_t ll_ctx_identity_count(const struct ll_ctx *ctx);
/* Verified-chain cache: FPR is the signer's SHA-256 fingerprint; a hit
 * means its chain verified for a time window that contains WHEN.
 * ISSUER: the signer's issuer in that chain (NULL: none), kept with a
 * reference; a hit gives a reference to it in *ISSUER when asked (and
 * known). */
int ll_ctx_chain_cached(struct ll_ctx *ctx, const unsigned char fpr[32],
			time_t when, X509 **issuer);
void ll_ctx_chain_remember(struct ll_ctx *ctx, const unsigned char fpr[32],
			   time_t from, time_t until, X509 *issuer);
struct ll_identity *ll_ctx_identity_at(const struct ll_ctx *ctx, size_t i);
/* The contacts' certificates (ll_ctx_add_contact), borrowed. */
size_t ll_ctx_contact_count(const struct ll_ctx *ctx);
const struct ll_cert *ll_ctx_contact_at(const struct ll_ctx *ctx, size_t i);

/* cert.c */
X509 *ll_cert_x509(const struct ll_cert *c);
/* 1 if C's public key passes OpenSSL's full check (for EC: on the curve
 * and of the group's order), else 0.  The answer 1 is kept in C, so a
 * certificate cached by a context is checked once. */
int ll_cert_key_check(struct ll_cert *c, OSSL_LIB_CTX *libctx);

/* revocation.c: 1 if the home KS knows the certificate FPR (SHA-256
 * hex) revoked (ll_revocation_mark, or a revoked answer it kept). */
struct ll_keystore;
int ll_revocation_marked(struct ll_keystore *ks, const char *fpr);

/* The home's own marks (ll_revocation_mark) one by one to FN: the
 * fingerprint (SHA-256 hex), when, the reason (-1 none).  FN's
 * negative return stops and is returned.  Errors: LL_ESTORE. */
typedef int (*ll_revocation_mark_fn)(void *arg, const char *fpr, time_t when,
				     int reason);
int ll_revocation_marks_foreach(struct ll_keystore *ks,
				ll_revocation_mark_fn fn, void *arg,
				struct ll_error *err);

/* ll_revocation_mark by fingerprint (SHA-256 hex, 64 lower-case). */
int ll_revocation_mark_fpr(struct ll_keystore *ks, const char *fpr, time_t when,
			   int reason, struct ll_error *err);

/*
 * ll_ca_issue for a process that only sends the certificate on (the
 * keyholder): a request from ll_ca_csr_from_spki keeps its key's octets
 * as they came, not encoded again; the X509 is then for i2d_X509 and
 * its fields only: X509_get0_pubkey gives NULL (OpenSSL 3.0 decodes a
 * key when it parses one, never later).  *out belongs to the caller.
 */
struct ll_ca;
struct ll_ca_csr;
struct ll_ca_issue_options;
int ll_ca_issue_x509(X509 **out, struct ll_ca *ca, const struct ll_ca_csr *csr,
		     const struct ll_ca_issue_options *opt,
		     struct ll_error *err);
/* An ASN1_TIME as time_t, 0 if it cannot be read. */
time_t ll_asn1_time(const ASN1_TIME *t);
int ll_cert_wrap(struct ll_cert **out, X509 *x, struct ll_error *err);
/* The same, X's SHA-256 fingerprint FPR known already (NULL: computed). */
int ll_cert_wrap_fpr(struct ll_cert **out, X509 *x, const unsigned char *fpr,
		     struct ll_error *err);
EVP_PKEY *ll_identity_pkey(const struct ll_identity *id);
STACK_OF(X509) *ll_identity_chain_stack(const struct ll_identity *id);
/* A private key, unencrypted PEM (never a prompt) or DER; one
 * certificate, PEM or DER.  NULL if BUF holds none. */
EVP_PKEY *ll_pkey_read(const void *buf, size_t len);
X509 *ll_x509_read(const void *buf, size_t len);

/* ca_issue.c: the signature digest for a CA key (S/MIME BR 7.1.3.2):
 * SHA-256 for P-256 and RSA >= 2048, SHA-384 for P-384; NULL for any
 * other key. */
const EVP_MD *ll_ca_key_md(const EVP_PKEY *k);

/* ca_crl.c: make CRL (its entries added, sorted) a v2 CRL of CA: issuer,
 * thisUpdate NOW, nextUpdate DAYS later, authority key identifier, CRL
 * number NUMBER; then sign it with KEY.  0, or LL_ECRYPTO/LL_EINVAL. */
int ll_crl_finish(X509_CRL *crl, X509 *ca, EVP_PKEY *key, int64_t number,
		  time_t now, int days, struct ll_error *err);
int ll_x509_has_email(X509 *x, const char *addr);
int ll_x509_first_email(X509 *x, char *buf, size_t len);
/* cert.c: the LL_USE_* bits of X (ll_cert_uses). */
unsigned ll_x509_uses(X509 *x);

/* ctx.c: is C, valid at NOW, a better pick than BEST (NULL: none) for
 * its address: the one issued last (ll_ctx_identity_for, the key
 * history of keystore.c). */
int ll_cert_better(const struct ll_cert *c, const struct ll_cert *best,
		   time_t now);

/* keystore.c: the home's SQLite handle, for contacts.c. */
struct ll_keystore;
typedef struct sqlite3 sqlite3;
sqlite3 *ll_keystore_db(struct ll_keystore *ks);
/* keystore.c: LL_ESTORE with "WHAT: " and SQLite's message of DB. */
int ll_keystore_db_err(struct ll_error *err, sqlite3 *db, const char *what);
/* keystore.c: SQL, a static string asked for again and again (per
 * message), prepared once per keystore (SETUP, when not NULL, run
 * before the first preparation) and kept until ll_keystore_close: the
 * statement into *out, borrowed; ll_keystore_stmt_done after each use,
 * so that it holds no read transaction.  Each use still reads the
 * database: what another process wrote meanwhile is seen.  0, or
 * LL_ESTORE. */
typedef struct sqlite3_stmt sqlite3_stmt;
int ll_keystore_stmt(sqlite3_stmt **out, struct ll_keystore *ks,
		     const char *sql, const char *setup, struct ll_error *err);
void ll_keystore_stmt_done(sqlite3_stmt *st);
/* keystore.c: a row's certificate (column 0, DER) with what its owner
 * reads (column 1, LL_CAP_* bits) into *out. */
int ll_keystore_row_cert(struct ll_cert **out, sqlite3_stmt *st,
			 struct ll_error *err);

/* ctx.c: revocation (revocation.c).  The options set, or NULL when
 * the context does not judge revocation; setting them; one more
 * certificate known revoked (SHA-256 fingerprint, lower-case hex):
 * 0, LL_EINVAL, LL_ENOMEM, LL_ETOOBIG. */
#define LL_FPR_HEX 64
const struct ll_revocation_options *ll_ctx_rev_options(const struct ll_ctx *ctx);
void ll_ctx_rev_set_options(struct ll_ctx *ctx,
			    const struct ll_revocation_options *opt);
int ll_ctx_rev_add(struct ll_ctx *ctx, const char *fpr);

/* ctx.c: drop every contact certificate for ADDR from CTX. */
void ll_ctx_drop_contacts_for(struct ll_ctx *ctx, const char *addr);

/* cms_sign.c */
struct ll_stamp;
/* Signed-data over DATA into SIG_DER: detached (DETACHED) or with
 * DATA inside; time-stamped when STAMP names a TSA (NULL: none): a
 * failure to stamp is STAMP->note unless STAMP->required. */
int ll_cms_sign_buffer(struct ll_buf *sig_der, struct ll_ctx *ctx,
		       const struct ll_identity *id, int detached,
		       const char *data, size_t len, struct ll_stamp *stamp,
		       struct ll_error *err);
/*
 * The same in steps, for content written elsewhere as it is signed:
 * start, write the content to S->in (a BIO borrowed from S), finish
 * (SIG_DER and STAMP as above).  finish and abort free what start made,
 * whatever happens; abort is for giving up between the two.
 */
struct ll_cms_signing {
	struct ll_ctx *ctx;
	const struct ll_identity *id;
	BIO *in;
	EVP_MD_CTX *md; /* our own SignedData: the content's digest */
	CMS_ContentInfo *cms; /* else OpenSSL's */
};
int ll_cms_sign_start(struct ll_cms_signing *s, struct ll_ctx *ctx,
		      const struct ll_identity *id, int detached,
		      struct ll_error *err);
int ll_cms_sign_finish(struct ll_buf *sig_der, struct ll_cms_signing *s,
		       struct ll_stamp *stamp, struct ll_error *err);
void ll_cms_sign_abort(struct ll_cms_signing *s);
/* The same by OpenSSL's CMS alone, as for the keys cms_signed.c does
 * not sign with (and for the tests that compare the two). */
int ll_cms_sign_buffer_ossl(struct ll_buf *sig_der, struct ll_ctx *ctx,
			    const struct ll_identity *id, int detached,
			    const char *data, size_t len,
			    struct ll_stamp *stamp, struct ll_error *err);
/* Signed-data with the content inside, streamed to OUT. */
CMS_ContentInfo *ll_cms_sign_stream_new(struct ll_ctx *ctx,
					const struct ll_identity *id,
					struct ll_error *err);

/*
 * cms_signed.c: SignedData written by letterlock, the form
 * ll_cms_sign_buffer's OpenSSL path writes (CMS_CADES, our
 * SMIMECapabilities, SHA-256), for RSA PKCS #1 v1.5 and ECDSA.
 */
#define LL_SIG_MAX 1024 /* octets: RSA up to 8192 bits */
/* 1 when ID, one of CTX's identities, has a key cms_signed.c signs
 * with (RSA or EC, a signature of at most LL_SIG_MAX octets); else 0,
 * and OpenSSL's CMS signs. */
int ll_cms_signed_ok(const struct ll_ctx *ctx, const struct ll_identity *id);
/* One SignerInfo's signed part.  Start zeroed; ll_signed_free. */
struct ll_signer; /* an identity's encodings, kept by the context */
struct ll_signed {
	struct ll_buf attrs; /* the signed attributes, a DER SET */
	size_t head; /* the SET's identifier and length octets */
	unsigned char sig[LL_SIG_MAX];
	size_t siglen; /* 0: not signed */
	const struct ll_signer *signer; /* the context's */
};
/* The signed attributes over DATA (LEN octets) and ID's signature of
 * them into SD: 0, LL_EINVAL (not ll_cms_signed_ok), LL_ECRYPTO,
 * LL_ENOMEM. */
int ll_cms_signed_sign(struct ll_signed *sd, struct ll_ctx *ctx,
		       const struct ll_identity *id, const char *data,
		       size_t len, struct ll_error *err);
/* The same for content whose SHA-256 DIGEST the caller took. */
int ll_cms_signed_sign_digest(struct ll_signed *sd, struct ll_ctx *ctx,
			      const struct ll_identity *id,
			      const unsigned char digest[32],
			      struct ll_error *err);
/* The ContentInfo of SD appended to OUT: DATA inside (LEN octets), or
 * detached when DATA is NULL; TOKEN (TOKLEN octets, a whole TLV), when
 * not NULL, as the unsigned attribute id-aa-timeStampToken.  SD
 * borrows the context's signer: encode it before the context signs
 * for another identity.  0, LL_EINVAL, LL_ENOMEM. */
int ll_cms_signed_encode(struct ll_buf *out, const struct ll_signed *sd,
			 const char *data, size_t len,
			 const unsigned char *token, size_t toklen,
			 struct ll_error *err);
void ll_signed_free(struct ll_signed *sd);
void ll_signer_free(struct ll_signer **pp);

struct ll_verify_result {
	enum ll_sig_state state;
	char signer[320];
	char when[32]; /* the token's time when ts_trusted, else signingTime */
	int ts_trusted; /* an RFC 3161 token verified (tsp.c) */
	char ts_why[160]; /* why a token present was not taken, "" */
	char why[160];
	X509 *signer_cert; /* a reference; free */
	unsigned caps; /* LL_CAP_* of its signed SMIMECapabilities, or 0 */
	struct ll_revocation rev; /* the signer's, when the context asks */
	/* of a valid signature: the certificate its signed encryption key
	 * preference names (ll_cms_keypref), a reference; free */
	X509 *enc_cert;
	char enc_why[160]; /* why one named is not taken, "" */
};
/* Verify CMS signed-data; DATA is the detached content or NULL. */
/* CERTS: the certificates cut out by ll_cms_d2i_signed, or NULL. */
int ll_cms_verify(struct ll_verify_result *r, struct ll_ctx *ctx,
		  CMS_ContentInfo *cms, STACK_OF(X509) *certs,
		  const char *data, size_t len, struct ll_buf *content_out,
		  struct ll_error *err);

/* cms_keypref.c: the certificate a signer asks to be encrypted to. */

/* One SMIMEEncryptionKeyPreference (RFC 8551 2.5.3) or Microsoft
 * encryption key preference value: an issuer and serial, or a
 * subjectKeyIdentifier. */
struct ll_keypref {
	PKCS7_ISSUER_AND_SERIAL *ias; /* or NULL: KID names it */
	unsigned char kid[64];
	size_t kidlen;
};
/* Parse the attribute value P[0..LEN) (untrusted; the whole DER
 * element, tag included): the RFC 8551 CHOICE, or with MICROSOFT the
 * bare IssuerAndSerialNumber.  0, LL_EPARSE or LL_ENOMEM; clear *out
 * with ll_keypref_clear either way. */
int ll_keypref_parse(struct ll_keypref *out, const unsigned char *p,
		     size_t len, int microsoft);
void ll_keypref_clear(struct ll_keypref *k);
/*
 * The certificate SI's SIGNED encryption key preference names (either
 * attribute; both must name the same one), looked for among the
 * certificates CMS carries, EXTRA, and CTX's contacts: into *out (a
 * reference; free) when it may be encrypted to (keyUsage), is for
 * email (extendedKeyUsage absent or emailProtection) and chains to
 * one of CTX's trust anchors now.  Else *out NULL and WHY says why
 * when the signer named one ("" when it named none).  Whose address
 * it covers is the caller's to check.  0, or LL_ENOMEM.
 */
int ll_cms_keypref(X509 **out, char *why, size_t whylen, struct ll_ctx *ctx,
		   CMS_ContentInfo *cms, CMS_SignerInfo *si,
		   STACK_OF(X509) *extra);

/* revocation.c */

/*
 * Judge the OCSP answer DER (LEN bytes, untrusted) about CERT issued by
 * ISSUER, under CTX's trust anchors and clock; REQ (may be NULL) is the
 * request, whose nonce the answer must carry if it carries one.  0 with
 * *out filled (state good, revoked or unknown), else LL_ETOOBIG,
 * LL_EPARSE, LL_EPOLICY (not from the issuer or its delegate, not for
 * CERT, not current, an error status), LL_ENOMEM.
 */
int ll_ocsp_judge(struct ll_revocation *out, struct ll_ctx *ctx,
		  const unsigned char *der, size_t len, X509 *cert,
		  X509 *issuer, OCSP_REQUEST *req, struct ll_error *err);

/* The revocation rule on a signature R that verified, by SIGNER
 * (issued by ISSUER, NULL when not known), made at WHEN (the token's
 * time when R->ts_trusted): fills R->rev and may make R not valid
 * (letterlock/revocation.h). */
void ll_revocation_judge(struct ll_verify_result *r, struct ll_ctx *ctx,
			 X509 *signer, X509 *issuer, time_t when);

/* tsp.c: RFC 3161 time-stamp tokens in signatures. */

/* What seal asks of a TSA, and what came of it. */
struct ll_stamp {
	const char *url; /* NULL: no time-stamp */
	const char *ca_file; /* trusted for the TSA's HTTPS besides the
				system's, NULL none */
	int required; /* fail rather than sign without a token */
	int stamped; /* out: a token was added */
	char note[200]; /* out: why not, "" */
};

/* Ask the TSA at URL for a token over SI's signature value and add it
 * as SI's unsigned attribute id-aa-timeStampToken, once it verifies
 * under CTX's trust anchors.  LL_EIO (unreachable), LL_EPARSE,
 * LL_EPOLICY (refused, or does not verify), LL_ECRYPTO. */
int ll_tsp_stamp(CMS_SignerInfo *si, struct ll_ctx *ctx, const char *url,
		 const char *ca_file, struct ll_error *err);
/* The same for the signature value SIG (LEN octets): the token's DER
 * (a ContentInfo, at most 64 KiB) appended to TOKEN. */
int ll_tsp_token(struct ll_buf *token, const unsigned char *sig, size_t len,
		 struct ll_ctx *ctx, const char *url, const char *ca_file,
		 struct ll_error *err);

/* SI's token: 0 none; 1 it verifies over SI's signature value under
 * CTX's trust anchors (EXTRA: more untrusted certificates), its time
 * into *when; -1 present but not taken (WHY, CAP octets, says why). */
int ll_tsp_check(CMS_SignerInfo *si, struct ll_ctx *ctx, STACK_OF(X509) *extra,
		 time_t *when, char *why, size_t cap);

/* cms_certs.c: d2i of a SignedData with its certificates taken from the
 * context's cache; *certs (caller frees) holds them, or is NULL when
 * the structure was parsed whole. */
int ll_cms_d2i_signed(CMS_ContentInfo **out, STACK_OF(X509) **certs,
		      struct ll_ctx *ctx, const unsigned char *der, size_t len,
		      struct ll_error *err);

/* der.c: one TLV; END bounds it.  For indefinite lengths END of the
 * element is its end-of-contents octets. */
struct ll_tlv {
	const unsigned char *start; /* identifier octet */
	const unsigned char *p;	    /* contents */
	const unsigned char *end;   /* end of contents */
	const unsigned char *next;  /* after the element */
	int tag, cls, cons, inf;
};
int ll_tlv_read(struct ll_tlv *t, const unsigned char *p,
		const unsigned char *end, int depth);
/* Only the identifier and length: for an indefinite length, END and
 * NEXT are NULL (the caller walks the contents to the end-of-contents). */
int ll_tlv_head(struct ll_tlv *t, const unsigned char *p,
		const unsigned char *end);
/* Append T's whole encoding (identifier to end) to B. */
int ll_tlv_copy(struct ll_buf *b, const struct ll_tlv *t);
/* Step over end-of-contents octets at *P. */
int ll_tlv_eoc(const unsigned char **p, const unsigned char *end);
/* Writing DER: the octets a definite length N takes; a whole TLV's
 * size for N octets of contents; a tag octet and the length N onto B
 * (0, LL_ENOMEM); the order of a DER SET OF, for qsort over struct
 * ll_buf encodings (X.690 11.6: as octet strings, the shorter first
 * when one is the other's start). */
size_t ll_der_len_size(size_t n);
size_t ll_der_tlv_size(size_t n);
int ll_der_head(struct ll_buf *b, unsigned char tag, size_t n);
int ll_der_cmp(const void *a, const void *b);

/* net.c: 1 if HOST ("127.0.0.1", "::1", "[::1]", "localhost") is
 * this machine's loopback. */
int ll_host_is_loopback(const char *host);

/* backup.c: the records of a backup's plaintext P[0..LEN) (the fuzz
 * target reaches them without the slow key). */
struct ll_backup;
int ll_backup_parse_records(struct ll_backup **out, const unsigned char *p,
			    size_t len, struct ll_error *err);

/* cms_env.c */
const char *ll_cipher_name(int nid);

/* cms_inplace.c: decrypt the (Auth)EnvelopedData at B->p + OFF in place;
 * the plaintext is then B->p[*pt_off .. *pt_off + *pt_len). */
int ll_cms_decrypt_inplace(size_t *pt_off, size_t *pt_len,
			   const char **cipher, struct ll_ctx *ctx,
			   struct ll_buf *b, size_t off, struct ll_error *err);
/* The same with the path chosen, for the tests that compare the two:
 * *BY in: LL_DECRYPT_ANY, or LL_DECRYPT_OPENSSL for OpenSSL's CMS only;
 * out: the path that decrypted it or failed. */
enum ll_decrypt_path {
	LL_DECRYPT_ANY,
	LL_DECRYPT_OPENSSL, /* OpenSSL's CMS_decrypt */
	LL_DECRYPT_OURS, /* cms_open_ec.c */
};
int ll_cms_decrypt_inplace_by(size_t *pt_off, size_t *pt_len,
			      const char **cipher, enum ll_decrypt_path *by,
			      struct ll_ctx *ctx, struct ll_buf *b, size_t off,
			      struct ll_error *err);
/*
 * cms_open_ec.c: decrypt in place the ciphertext CT[0..CTLEN) of the
 * (Auth)EnvelopedData seen through V when it is for one of the
 * context's EC P-256 keys in the form letterlock and OpenSSL write (a
 * KeyAgreeRecipientInfo with an ephemeral P-256 originatorKey,
 * dhSinglePass-stdDH-sha256kdf-scheme, id-aes256-wrap, no ukm; AES-256
 * CBC or GCM without attributes).  1: decrypted, the plaintext is
 * CT[0..*PT_LEN); 0: not that form, nothing done (use OpenSSL's CMS);
 * LL_EDECRYPT, LL_ENOMEM: failed (CT may hold part of a plaintext: the
 * caller wipes it).
 */
struct ll_env_view {
	struct ll_tlv ver; /* version */
	struct ll_tlv ris; /* RecipientInfos */
	struct ll_tlv ctype; /* the encrypted content's type */
	struct ll_tlv alg; /* contentEncryptionAlgorithm */
	unsigned char mac[16]; /* AuthEnvelopedData: the tag */
	size_t maclen;
	int auth; /* AuthEnvelopedData */
	int extras; /* originatorInfo, attributes, a second mac */
};
int ll_cms_open_ec(size_t *pt_len, struct ll_ctx *ctx,
		   const struct ll_env_view *v, unsigned char *ct,
		   size_t ctlen, struct ll_error *err);
/* cms_env_ec.c's encodings that cms_open_ec.c expects back: a KARI's
 * originator up to the point, its keyEncryptionAlgorithm; the content
 * algorithms' OIDs and id-data (whole TLVs). */
#define LL_KARI_ORIGINATOR_LEN 18
#define LL_KARI_KEA_LEN 23
#define LL_OID_LEN 11
extern const unsigned char ll_kari_originator[LL_KARI_ORIGINATOR_LEN];
extern const unsigned char ll_kari_kea[LL_KARI_KEA_LEN];
extern const unsigned char ll_oid_aes256_cbc[LL_OID_LEN];
extern const unsigned char ll_oid_aes256_gcm[LL_OID_LEN];
extern const unsigned char ll_oid_data[LL_OID_LEN];
int ll_cms_find_recipient(struct ll_identity **out, struct ll_ctx *ctx,
			  CMS_ContentInfo *cms, struct ll_error *err);
/* GCM: AuthEnvelopedData; OAEP_OK: RSA-OAEP for recipients that read
 * it (else PKCS#1 v1.5 for every RSA recipient). */
CMS_ContentInfo *ll_cms_env_new(struct ll_ctx *ctx, struct ll_cert **rcpts,
				size_t n, int gcm, int oaep_ok,
				struct ll_error *err);
int ll_cms_d2i(CMS_ContentInfo **out, struct ll_ctx *ctx,
	       const unsigned char *der, size_t len, struct ll_error *err);

/*
 * cms_env_ec.c: the same as ll_cms_env_new + BIO_new_CMS for recipients
 * that all have EC P-256 keys (ll_cms_env_ec_ok), without OpenSSL's CMS
 * layer: a filter BIO to push onto the output; what is written through
 * it is encrypted, BIO_flush ends the message.  The caller frees it
 * (BIO_pop, BIO_free).  NULL on error (details in ERR).
 */
int ll_cms_env_ec_ok(struct ll_cert *const *rcpts, size_t n);
BIO *ll_cms_env_ec_new(struct ll_ctx *ctx, struct ll_cert *const *rcpts,
		       size_t n, int gcm, struct ll_error *err);
/* X9.63 KDF with SHA-256 (SEC 1 3.6.1), one block: KEK = SHA-256(Z ||
 * 00000001 || SharedInfo), the SharedInfo of RFC 5753 7.2 for
 * id-aes256-wrap without ukm.  0 or LL_ECRYPTO. */
int ll_cms_ecdh_kek(unsigned char kek[32], const unsigned char *z,
		    size_t zlen, OSSL_LIB_CTX *libctx);
/* ECDH with PEER (not validated here: the caller has checked it) on
 * DERIVE (derive_init done with our key), that KEK, and AES-256 key
 * wrap: ENC 1 wraps the 32-octet key IN into the 40 octets OUT, ENC 0
 * unwraps.  Z and the KEK are wiped.  0 or LL_ECRYPTO. */
int ll_cms_ecdh_wrap(unsigned char *out, const unsigned char *in, int enc,
		     EVP_PKEY_CTX *derive, EVP_PKEY *peer,
		     const struct ll_algs *algs);
/*
 * aes_kw.c: AES-256 key wrap (RFC 3394, the default initial value) of
 * a LL_AES_KW_KEY_LEN-octet key under the 32-octet KEK, on ECB (the
 * context's AES-256-ECB, ll_ctx_algs).  Wrap: KEY into OUT.  Unwrap:
 * IN into OUT when its integrity value checks, else OUT is not written
 * (a wrong KEK, a changed octet).  The intermediate blocks and the key
 * schedule are wiped.  0 or LL_ECRYPTO.
 */
#define LL_AES_KW_KEY_LEN 32
#define LL_AES_KW_WRAPPED_LEN (LL_AES_KW_KEY_LEN + 8)
int ll_aes_kw_wrap(unsigned char out[LL_AES_KW_WRAPPED_LEN],
		   const unsigned char key[LL_AES_KW_KEY_LEN],
		   const unsigned char kek[32], const EVP_CIPHER *ecb);
int ll_aes_kw_unwrap(unsigned char out[LL_AES_KW_KEY_LEN],
		     const unsigned char in[LL_AES_KW_WRAPPED_LEN],
		     const unsigned char kek[32], const EVP_CIPHER *ecb);

/* curl_util.c: what every libcurl client of letterlock does the same
 * way (the ACME client; the CLI's IMAP and SMTP). */

/* curl_global_init, once per process.  0, or LL_EIO. */
int ll_curl_init(struct ll_error *err);

/* A response body kept in BODY (NUL-terminated) up to MAX bytes; more
 * sets TOO_BIG and stops the transfer, or with TRUNCATE set keeps the
 * first MAX bytes and lets the transfer go on. */
struct ll_curl_sink {
	struct ll_buf body;
	size_t max;
	int truncate;
	int too_big;
};

/*
 * Reset C and set what every transfer has: only the PROTOCOLS named
 * ("http,https"), no signals, TIMEOUT seconds for the connection and
 * for the whole exchange, the server's certificate and name verified
 * against the system's trust store plus CA_FILE (PEM; NULL: none),
 * curl's own message into EBUF (CURL_ERROR_SIZE bytes, emptied here),
 * and the body into SINK (NULL: none kept).  CA_FILE, EBUF and SINK
 * must outlive the transfer (ll_curl_perform forgets EBUF and SINK).
 */
void ll_curl_setup(CURL *c, const char *protocols, long timeout,
		   const char *ca_file, char *ebuf, struct ll_curl_sink *sink);

/* curl_easy_perform, then unset every pointer the caller's stack lent
 * the handle for it (error buffer, write, read and header data, header
 * and recipient lists), so that none is left dangling. */
CURLcode ll_curl_perform(CURL *c);

/*
 * What an SMTP server's answer to EHLO offered that the mail path needs
 * to know: SMTPUTF8 (RFC 6531).  libcurl adds the SMTPUTF8 parameter
 * to MAIL itself when the server offers it and an address needs it,
 * but sends a UTF-8 address to a server that does not offer it all the
 * same; so the caller learns what the server offered through
 * CURLOPT_DEBUGFUNCTION (with CURLOPT_VERBOSE), feeding every piece to
 * ll_smtp_ehlo_watch, and sends nothing that needs SMTPUTF8 to a server
 * that lacks it (no downgrade, RFC 6531 3.2).  Start zeroed.
 */
struct ll_smtp_ehlo {
	int reading; /* the answer to EHLO is being read */
	int seen; /* an answer to EHLO (or HELO) was read */
	int smtputf8; /* that answer offered SMTPUTF8 */
};
void ll_smtp_ehlo_watch(struct ll_smtp_ehlo *e, curl_infotype type,
			const char *data, size_t size);

/* Does mail from FROM to the N addresses RCPTS, MSG (LEN bytes), need
 * SMTPUTF8: a byte that is not ASCII in an address or in MSG's header
 * (RFC 6532)?  The body does not count (8BITMIME covers it). */
int ll_smtp_needs_utf8(const char *from, const char *const *rcpts, size_t n,
		       const char *msg, size_t len);

/* A NOOP on C, set up by the caller (URL, TLS, login; a sink for the
 * answer): connects, reads the answer to EHLO (ll_smtp_ehlo_watch)
 * and leaves the connection open for the next transfer on C. */
CURLcode ll_curl_smtp_noop(CURL *c);

/* POST DER (LEN bytes, media type CTYPE) to URL (http or https,
 * CA_FILE trusted besides the system's when not NULL) and keep the
 * reply's body in SINK.  LL_EIO "WHAT at URL: why" when the exchange
 * fails or the answer is not HTTP 200. */
int ll_curl_post(struct ll_curl_sink *sink, const char *url, const char *ctype,
		 const char *ca_file, long timeout, const void *der,
		 size_t len, const char *what, struct ll_error *err);

/* Why the transfer failed: EBUF when curl wrote there, else CC's text. */
const char *ll_curl_why(const char *ebuf, CURLcode cc);

#endif
