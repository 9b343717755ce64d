/* Hostile-input corpus for the JOSE core: tokens and keys an attacker or a broken issuer would send, each with its exact refusal. */
#include <stdarg.h>
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "testkit.h"
#include "agw_b64.h"
#include "agw_crypt.h"
#include "agw_json.h"
#include "agw_jwk.h"
#include "agw_jws.h"
#include "agw_jwt.h"

#define NOW 1700000000
#define ISS "https://issuer.example/"
#define PAYLOAD \
    "{\"iss\":\"" ISS "\",\"sub\":\"user-1\",\"aud\":\"https://api.example\"," \
    "\"iat\":1700000000,\"exp\":1700003600}"

/* ---- helpers ----------------------------------------------------------------------------- */

#define P agw_test_pool

static agw_alg_set_t all_algs(void)
{
    agw_alg_set_t s = 0;
    int a;

    for (a = AGW_ALG_NONE + 1; a < AGW_ALG_COUNT; a++)
        s |= AGW_ALG_BIT(a);
    return s;
}

static const char *jwk(EVP_PKEY *k, const char *kid)
{
    return tk_jwk(P, k, kid, NULL, NULL);
}

/* A key set from JWK texts (NULL-terminated); every key must be usable. */
static agw_jwks_t *set_of(const char *first, ...)
{
    apr_array_header_t *parts = apr_array_make(P, 4, sizeof(const char *));
    const char *doc, *s;
    agw_jwks_t *jwks = NULL;
    agw_err_t err = { 0 };
    va_list ap;

    va_start(ap, first);
    for (s = first; s; s = va_arg(ap, const char *))
        APR_ARRAY_PUSH(parts, const char *) = s;
    va_end(ap);
    doc = apr_pstrcat(P, "{\"keys\":[", apr_array_pstrcat(P, parts, ','), "]}", NULL);
    ck_assert_int_eq(agw_jwks_parse(&jwks, P, doc, strlen(doc), &err), APR_SUCCESS);
    ck_assert_int_eq(jwks->keys->nelts, parts->nelts);
    return jwks;
}

static const agw_jwk_t *key_at(const agw_jwks_t *s, int i)
{
    return APR_ARRAY_IDX(s->keys, i, const agw_jwk_t *);
}

static char *token(const char *alg, EVP_PKEY *k, const char *header)
{
    return tk_token(P, alg, k, NULL, 0, header, PAYLOAD);
}

static char *token_hs(const void *secret, size_t len, const char *header, const char *payload)
{
    return tk_token(P, "HS256", NULL, secret, len, header, payload);
}

/* header.payload.<sig> with the signature bytes given. */
static char *with_sig(const char *tok, const unsigned char *sig, size_t siglen)
{
    const char *dot = strrchr(tok, '.');
    return apr_pstrcat(P, apr_pstrmemdup(P, tok, (apr_size_t)(dot - tok + 1)),
                       tk_b64url(P, sig, siglen), NULL);
}

static unsigned char *sig_of(const char *tok, size_t *plen)
{
    return tk_unb64url(P, strrchr(tok, '.') + 1, plen);
}

/* Segment i of a token (a copy) and the token with segment i replaced. */
static char *seg(const char *tok, int i)
{
    const char *s = tok, *e;

    while (i-- > 0)
        s = strchr(s, '.') + 1;
    e = strchr(s, '.');
    return e ? apr_pstrmemdup(P, s, (apr_size_t)(e - s)) : apr_pstrdup(P, s);
}

static char *with_seg(const char *tok, int i, const char *repl)
{
    const char *s[3];
    int j;

    for (j = 0; j < 3; j++)
        s[j] = j == i ? repl : seg(tok, j);
    return apr_pstrcat(P, s[0], ".", s[1], ".", s[2], NULL);
}

/* The refusal kind each reason of this corpus must come with, written out here so that the
 * core's classification is checked, not copied. "header "/"payload " prefixes (JSON and
 * base64url failures of a segment) are malformed. A reason missing here fails the test. */
static const struct { const char *reason; agw_refusal_e kind; } kinds[] = {
    { "token empty", AGW_R_MALFORMED },
    { "token too large", AGW_R_MALFORMED },
    { "token is not three segments", AGW_R_MALFORMED },
    { "signature missing", AGW_R_MALFORMED },
    { "signature is not base64url", AGW_R_MALFORMED },
    { "alg missing", AGW_R_MALFORMED },
    { "alg is not a string", AGW_R_MALFORMED },
    { "crit not supported", AGW_R_MALFORMED },
    { "kid is not a string", AGW_R_MALFORMED },
    { "x5t is not a string", AGW_R_MALFORMED },
    { "typ is not a string", AGW_R_MALFORMED },
    { "claims not an object", AGW_R_MALFORMED },
    { "alg none refused", AGW_R_ALG },
    { "alg unknown", AGW_R_ALG },
    { "alg not allowed", AGW_R_ALG },
    { "key type does not match alg", AGW_R_ALG },
    { "key curve does not match alg", AGW_R_ALG },
    { "key alg does not match token alg", AGW_R_ALG },
    { "HMAC key too short for alg", AGW_R_ALG },
    { "x5t does not match key", AGW_R_UNKNOWN_KEY },
    { "unknown key", AGW_R_UNKNOWN_KEY },
    { "signature invalid", AGW_R_SIGNATURE },
    { "bad ECDSA signature length", AGW_R_SIGNATURE },
    { "exp missing", AGW_R_CLAIM },
    { "exp not a number", AGW_R_CLAIM },
    { "exp invalid", AGW_R_CLAIM },
    { "nbf not a number", AGW_R_CLAIM },
    { "nbf invalid", AGW_R_CLAIM },
    { "iat not a number", AGW_R_CLAIM },
    { "iat invalid", AGW_R_CLAIM },
    { "token expired", AGW_R_EXPIRED },
    { "token not yet valid", AGW_R_NOT_YET_VALID },
    { "iat in the future", AGW_R_NOT_YET_VALID },
    { "issuer mismatch", AGW_R_ISSUER },
    { "audience mismatch", AGW_R_AUDIENCE },
    { "typ not accepted", AGW_R_TYPE },
};

static void kind_is(const agw_err_t *err, const char *reason)
{
    size_t i;

    if (!strncmp(reason, "header ", 7) || !strncmp(reason, "payload ", 8)) {
        ck_assert_msg(err->kind == AGW_R_MALFORMED, "\"%s\": kind %d, want malformed", reason,
                      (int)err->kind);
        return;
    }
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (!strcmp(kinds[i].reason, reason)) {
            ck_assert_msg(err->kind == kinds[i].kind, "\"%s\": kind %d, want %d", reason,
                          (int)err->kind, (int)kinds[i].kind);
            return;
        }
    ck_abort_msg("\"%s\" has no expected kind in the test's table", reason);
}

static void decode_fails_len(const char *tok, apr_size_t len, const char *reason)
{
    agw_jws_t *jws = (agw_jws_t *)1;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_jws_decode(&jws, P, tok, len, 0, &err), APR_EINVAL);
    ck_assert_ptr_null(jws);
    ck_assert_ptr_nonnull(err.code);
    ck_assert_str_eq(err.code, AGW_E_INVALID_TOKEN);
    ck_assert_ptr_nonnull(err.reason);
    ck_assert_str_eq(err.reason, reason);
    kind_is(&err, reason);
}

static void decode_fails(const char *tok, const char *reason)
{
    decode_fails_len(tok, strlen(tok), reason);
}

static agw_jws_t *decode(const char *tok)
{
    agw_jws_t *jws = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv = agw_jws_decode(&jws, P, tok, strlen(tok), 0, &err);

    ck_assert_msg(rv == APR_SUCCESS, "decode refused: %s", err.reason);
    return jws;
}

/* Decodes (must succeed), verifies, and checks the outcome exactly. */
static agw_jws_t *verify_is(const char *tok, const agw_jwks_t *keys, agw_alg_set_t allowed,
                            apr_status_t want, const char *reason)
{
    agw_jws_t *jws = decode(tok);
    agw_err_t err = { 0 };
    apr_status_t rv = agw_jws_verify(jws, keys, allowed, &err);

    if (want == APR_SUCCESS) {
        ck_assert_msg(rv == APR_SUCCESS, "verify refused: %s", err.reason);
        ck_assert_ptr_nonnull(jws->key);
        return jws;
    }
    ck_assert_int_eq(rv, want);
    ck_assert_ptr_null(jws->key);
    ck_assert_str_eq(err.code, AGW_E_INVALID_TOKEN);
    ck_assert_str_eq(err.reason, reason);
    kind_is(&err, reason);
    return jws;
}

static void jwk_fails(const char *text, const char *reason)
{
    json_t *j = NULL;
    agw_jwk_t *k = (agw_jwk_t *)1;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_json_parse(&j, P, text, strlen(text), 0, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_jwk_parse(&k, P, j, &err), APR_EINVAL);
    ck_assert_ptr_null(k);
    ck_assert_msg(strcmp(err.reason, reason) == 0, "JWK refused with \"%s\", want \"%s\"",
                  err.reason, reason);
    /* a key is refused, not a token: no token counter may count it */
    ck_assert_int_eq(err.kind, AGW_R_KEY);
}

static agw_jwk_t *jwk_ok(const char *text)
{
    json_t *j = NULL;
    agw_jwk_t *k = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_json_parse(&j, P, text, strlen(text), 0, &err), APR_SUCCESS);
    ck_assert_msg(agw_jwk_parse(&k, P, j, &err) == APR_SUCCESS, "JWK refused: %s", err.reason);
    return k;
}

/* A JWK text with member name's value replaced by value (raw JSON). */
static char *jwk_set_member(const char *text, const char *name, const char *value)
{
    json_t *j = json_loads(text, 0, NULL), *v = json_loads(value, JSON_DECODE_ANY, NULL);
    char *out, *dump;

    ck_assert_ptr_nonnull(j);
    ck_assert_ptr_nonnull(v);
    json_object_set_new(j, name, v);
    dump = json_dumps(j, JSON_COMPACT);
    out = apr_pstrdup(P, dump);
    free(dump);
    json_decref(j);
    return out;
}

static char *b64_of_bytes(const unsigned char *b, size_t n)
{
    return apr_psprintf(P, "\"%s\"", tk_b64url(P, b, n));
}

/* ---- alg ------------------------------------------------------------------------------------ */

START_TEST(alg_none_in_every_casing)
{
    static const char *const nones[] = { "none", "None", "NONE", "nOnE", "NoNe", "nonE" };
    size_t i;

    for (i = 0; i < sizeof(nones) / sizeof(nones[0]); i++) {
        const char *h = apr_psprintf(P, "{\"alg\":\"%s\",\"kid\":\"r1\"}", nones[i]);
        /* With a real RS256 signature attached, and in the classic unsigned form. */
        char *t = token("RS256", tk_rsa, h);

        decode_fails(t, "alg none refused");
        decode_fails(apr_pstrcat(P, tk_b64url_str(P, h), ".", tk_b64url_str(P, PAYLOAD), ".",
                                 NULL), "signature missing");
        decode_fails(apr_pstrcat(P, tk_b64url_str(P, h), ".", tk_b64url_str(P, PAYLOAD), ".AA",
                                 NULL), "alg none refused");
        ck_assert_int_eq(agw_alg_from_name(nones[i], (apr_size_t)-1), AGW_ALG_NONE);
        jwk_fails(apr_psprintf(P, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"%s\"}", nones[i]),
                  "alg unknown");
    }
}
END_TEST

START_TEST(alg_malformed)
{
    static const char *const unknown[] = {
        "", "rs256", "Rs256", "RS256 ", " RS256", "RS 256", "RS256\\t", "ES256K", "RSA-OAEP",
        "EdDSA ", "eddsa", "Ed25519", "HS1", "PS256\\u0001", "RS2560", "R", "\\u00a0RS256",
    };
    size_t i;

    for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
        decode_fails(token("RS256", tk_rsa, apr_psprintf(P, "{\"alg\":\"%s\"}", unknown[i])),
                     "alg unknown");
    decode_fails(token("RS256", tk_rsa, "{\"alg\":\"RS256\\u0000\"}"), "header JSON: embedded NUL");
    decode_fails(token("RS256", tk_rsa, "{\"kid\":\"r1\"}"), "alg missing");
    decode_fails(token("RS256", tk_rsa, "{\"ALG\":\"RS256\"}"), "alg missing");
    decode_fails(token("RS256", tk_rsa, "{\"alg\":256}"), "alg is not a string");
    decode_fails(token("RS256", tk_rsa, "{\"alg\":null}"), "alg is not a string");
    decode_fails(token("RS256", tk_rsa, "{\"alg\":true}"), "alg is not a string");
    decode_fails(token("RS256", tk_rsa, "{\"alg\":[\"RS256\"]}"), "alg is not a string");
    decode_fails(token("RS256", tk_rsa, "{\"alg\":{\"RS256\":1}}"), "alg is not a string");
    /* Escaped spelling of a real name is the same string: accepted. */
    verify_is(token("RS256", tk_rsa, "{\"alg\":\"\\u0052S256\"}"), set_of(jwk(tk_rsa, NULL), NULL),
              AGW_ALG_BIT(AGW_ALG_RS256), APR_SUCCESS, NULL);
}
END_TEST

START_TEST(alg_not_allowed)
{
    char *t = token("RS256", tk_rsa, "{\"alg\":\"RS256\"}");
    agw_jwks_t *s = set_of(jwk(tk_rsa, NULL), NULL);

    verify_is(t, s, AGW_ALG_BIT(AGW_ALG_RS256), APR_SUCCESS, NULL);
    verify_is(t, s, AGW_ALG_BIT(AGW_ALG_ES256), APR_EINVAL, "alg not allowed");
    verify_is(t, s, AGW_ALG_BIT(AGW_ALG_RS384) | AGW_ALG_BIT(AGW_ALG_PS256), APR_EINVAL,
              "alg not allowed");
    verify_is(t, s, 0, APR_EINVAL, "alg not allowed");
    verify_is(t, s, AGW_ALG_BIT(AGW_ALG_NONE), APR_EINVAL, "alg not allowed");
    verify_is(t, s, all_algs() & ~AGW_ALG_BIT(AGW_ALG_RS256), APR_EINVAL, "alg not allowed");
}
END_TEST

/* ---- RS/HS key confusion --------------------------------------------------------------------- */

/* The classic attack: an HS256 token whose HMAC key is the issuer's public RSA key in some
 * encoding, sent to a verifier whose allow-list names both RS256 and HS256. */
START_TEST(hs256_keyed_with_rsa_public_key)
{
    const char *pem = tk_pubkey_pem(P, tk_rsa);
    size_t derlen, nlen, elen;
    unsigned char *der = tk_pubkey_der(P, tk_rsa, &derlen);
    unsigned char *n = tk_bn_param(P, tk_rsa, OSSL_PKEY_PARAM_RSA_N, 0, &nlen);
    unsigned char *e = tk_bn_param(P, tk_rsa, OSSL_PKEY_PARAM_RSA_E, 0, &elen);
    const char *jwk_text = jwk(tk_rsa, "r1");
    struct { const void *key; size_t len; } secrets[] = {
        { pem, strlen(pem) },
        { pem, strlen(pem) - 1 }, /* without the final newline */
        { der, derlen },
        { n, nlen },
        { jwk_text, strlen(jwk_text) },
        { e, elen },
    };
    agw_jwks_t *rsa_only = set_of(jwk_text, NULL);
    agw_jwks_t *rsa_nokid = set_of(jwk(tk_rsa, NULL), NULL);
    agw_jwks_t *mixed = set_of(jwk(tk_rsa, NULL), jwk(tk_p256, NULL), jwk(tk_ed, NULL), NULL);
    agw_alg_set_t rs_hs = AGW_ALG_BIT(AGW_ALG_RS256) | AGW_ALG_BIT(AGW_ALG_HS256);
    size_t i;

    for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        char *with_kid = token_hs(secrets[i].key, secrets[i].len,
                                  "{\"alg\":\"HS256\",\"kid\":\"r1\"}", PAYLOAD);
        char *no_kid = token_hs(secrets[i].key, secrets[i].len, "{\"alg\":\"HS256\"}", PAYLOAD);

        verify_is(with_kid, rsa_only, rs_hs, APR_EINVAL, "key type does not match alg");
        verify_is(no_kid, rsa_only, rs_hs, APR_EINVAL, "key type does not match alg");
        verify_is(no_kid, rsa_nokid, rs_hs, APR_EINVAL, "key type does not match alg");
        verify_is(no_kid, mixed, all_algs(), APR_EINVAL, "key type does not match alg");
        /* Control: the MAC is right, so only the key choice stops it. */
        if (secrets[i].len >= 32)
            verify_is(no_kid, agw_jwks_from_secret(P, secrets[i].key, secrets[i].len),
                      AGW_ALG_BIT(AGW_ALG_HS256), APR_SUCCESS, NULL);
        else
            verify_is(no_kid, agw_jwks_from_secret(P, secrets[i].key, secrets[i].len),
                      AGW_ALG_BIT(AGW_ALG_HS256), APR_EINVAL, "HMAC key too short for alg");
    }
}
END_TEST

/* The reverse: an RS256 token checked against only the configured shared secret. */
START_TEST(rs256_against_shared_secret)
{
    const char *pem = tk_pubkey_pem(P, tk_rsa);
    char *t = token("RS256", tk_rsa, "{\"alg\":\"RS256\"}");

    verify_is(t, agw_jwks_from_secret(P, (const unsigned char *)pem, strlen(pem)), all_algs(), APR_EINVAL,
              "key type does not match alg");
}
END_TEST

START_TEST(hs_secret_hostile)
{
    static const unsigned char s16[16] = "0123456789abcdef";
    static const unsigned char s32[32] = "0123456789abcdef0123456789abcdef";
    agw_alg_set_t hs = AGW_ALG_BIT(AGW_ALG_HS256) | AGW_ALG_BIT(AGW_ALG_HS384);
    char *t;

    /* An empty secret is a key anyone has. */
    t = token_hs("", 0, "{\"alg\":\"HS256\"}", PAYLOAD);
    verify_is(t, agw_jwks_from_secret(P, (const unsigned char *)"", 0), hs, APR_EINVAL,
              "key type does not match alg");
    verify_is(t, agw_jwks_from_secret(P, NULL, 0), hs, APR_EINVAL,
              "key type does not match alg");
    /* RFC 7518 3.2: shorter than the hash is refused, even with a correct MAC. */
    t = token_hs(s16, sizeof(s16), "{\"alg\":\"HS256\"}", PAYLOAD);
    verify_is(t, agw_jwks_from_secret(P, s16, sizeof(s16)), hs, APR_EINVAL,
              "HMAC key too short for alg");
    t = token_hs(s32, sizeof(s32), "{\"alg\":\"HS256\"}", PAYLOAD);
    verify_is(t, agw_jwks_from_secret(P, s32, sizeof(s32)), hs, APR_SUCCESS, NULL);
    /* One byte off in the secret. */
    verify_is(t, agw_jwks_from_secret(P, s32, sizeof(s32) - 1), hs, APR_EINVAL,
              "HMAC key too short for alg");
    t = tk_token(P, "HS384", NULL, s32, sizeof(s32), "{\"alg\":\"HS384\"}", PAYLOAD);
    verify_is(t, agw_jwks_from_secret(P, s32, sizeof(s32)), hs, APR_EINVAL,
              "HMAC key too short for alg");
    /* JWK side: an empty k. */
    jwk_fails("{\"kty\":\"oct\",\"k\":\"\"}", "oct k is empty");
    jwk_fails("{\"kty\":\"oct\"}", "oct k missing or not base64url");
    jwk_fails("{\"kty\":\"oct\",\"k\":\"AAAA=\"}", "oct k missing or not base64url");
}
END_TEST

/* ---- signatures ------------------------------------------------------------------------------ */

START_TEST(empty_and_truncated_signatures)
{
    static const struct { const char *alg; int which; const char *short_reason; } cases[] = {
        { "RS256", 0, "signature invalid" },
        { "PS256", 0, "signature invalid" },
        { "ES256", 1, "bad ECDSA signature length" },
        { "ES384", 2, "bad ECDSA signature length" },
        { "EdDSA", 3, "signature invalid" },
        { "HS256", 4, "signature invalid" },
    };
    static const unsigned char secret[32] = "an HS256 secret of 32 bytes....";
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EVP_PKEY *k = cases[i].which == 0 ? tk_rsa : cases[i].which == 1 ? tk_p256
                    : cases[i].which == 2 ? tk_p384 : cases[i].which == 3 ? tk_ed : NULL;
        const char *h = apr_psprintf(P, "{\"alg\":\"%s\"}", cases[i].alg);
        char *t = tk_token(P, cases[i].alg, k, secret, sizeof(secret), h, PAYLOAD);
        agw_jwks_t *s = k ? set_of(jwk(k, NULL), NULL)
                          : agw_jwks_from_secret(P, secret, sizeof(secret));
        size_t siglen, cut;
        unsigned char *sig = sig_of(t, &siglen);
        unsigned char *longer = apr_palloc(P, siglen + 1);

        verify_is(t, s, all_algs(), APR_SUCCESS, NULL);
        decode_fails(with_seg(t, 2, ""), "signature missing");
        /* Truncated to every shorter length that base64url can spell, down to one byte. */
        for (cut = 1; cut < siglen; cut = cut < 8 ? cut + 1 : cut * 2) {
            verify_is(with_sig(t, sig, siglen - cut), s, all_algs(), APR_EINVAL,
                      cases[i].short_reason);
            /* And the tail instead of the head. */
            verify_is(with_sig(t, sig + cut, siglen - cut), s, all_algs(), APR_EINVAL,
                      cases[i].short_reason);
        }
        memcpy(longer, sig, siglen);
        longer[siglen] = 0;
        verify_is(with_sig(t, longer, siglen + 1), s, all_algs(), APR_EINVAL,
                  cases[i].short_reason);
        /* All zero bytes of the right length. */
        memset(longer, 0, siglen);
        verify_is(with_sig(t, longer, siglen), s, all_algs(), APR_EINVAL, "signature invalid");
    }
}
END_TEST

/* P-256's group order n, big-endian. */
static const unsigned char p256_n[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51
};

/* r or s outside [1, n-1]: zero (the "psychic signature" of CVE-2022-21449), n, n+1, and
 * all-ones all fit the fixed 32-byte field and must be refused. */
START_TEST(ecdsa_degenerate_scalars)
{
    char *t = token("ES256", tk_p256, "{\"alg\":\"ES256\",\"kid\":\"e1\"}");
    agw_jwks_t *s = set_of(jwk(tk_p256, "e1"), NULL);
    const agw_jwk_t *key = key_at(s, 0);
    size_t siglen;
    unsigned char *good = sig_of(t, &siglen), bad[64], n1[32];
    const unsigned char *scalars[4];
    static const unsigned char zero[32], ones[32] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff };
    int r, q;

    ck_assert_uint_eq(siglen, 64);
    memcpy(n1, p256_n, 32);
    n1[31]++; /* n + 1: no carry, the last byte is 0x51 */
    scalars[0] = zero;
    scalars[1] = p256_n;
    scalars[2] = n1;
    scalars[3] = ones;
    verify_is(t, s, AGW_ALG_BIT(AGW_ALG_ES256), APR_SUCCESS, NULL);
    for (r = 0; r < 4; r++) {
        /* r bad, s from the good signature; r good, s bad; both bad. */
        for (q = 0; q < 3; q++) {
            agw_err_t err = { 0 };
            memcpy(bad, q == 1 ? good : scalars[r], 32);
            memcpy(bad + 32, q == 0 ? good + 32 : scalars[r], 32);
            verify_is(with_sig(t, bad, 64), s, AGW_ALG_BIT(AGW_ALG_ES256), APR_EINVAL,
                      "signature invalid");
            ck_assert_int_eq(agw_crypt_verify(AGW_ALG_ES256, key->pkey, NULL, 0,
                                              (const unsigned char *)t, strlen(t) - 87, bad, 64,
                                              &err), APR_EINVAL);
            ck_assert_str_eq(err.reason, "signature invalid");
        }
    }
    /* n - 1 is in range but is not this signature's r. */
    memcpy(bad, p256_n, 32);
    bad[31]--;
    memcpy(bad + 32, good + 32, 32);
    verify_is(with_sig(t, bad, 64), s, AGW_ALG_BIT(AGW_ALG_ES256), APR_EINVAL,
              "signature invalid");
}
END_TEST

START_TEST(ecdsa_zero_on_every_curve)
{
    unsigned char zero[132] = { 0 };
    char *t256 = token("ES256", tk_p256, "{\"alg\":\"ES256\"}");
    char *t384 = token("ES384", tk_p384, "{\"alg\":\"ES384\"}");

    verify_is(with_sig(t256, zero, 64), set_of(jwk(tk_p256, NULL), NULL), all_algs(), APR_EINVAL,
              "signature invalid");
    verify_is(with_sig(t384, zero, 96), set_of(jwk(tk_p384, NULL), NULL), all_algs(), APR_EINVAL,
              "signature invalid");
}
END_TEST

/* A DER ECDSA-Sig-Value (what OpenSSL produces) where JWS wants raw r||s. */
START_TEST(ecdsa_der_instead_of_raw)
{
    static const struct { const char *alg; int p384; size_t raw; } cases[] = {
        { "ES256", 0, 64 }, { "ES384", 1, 96 },
    };
    size_t i;
    int tries;

    for (i = 0; i < 2; i++) {
        EVP_PKEY *k = cases[i].p384 ? tk_p384 : tk_p256;
        agw_jwks_t *s = set_of(jwk(k, NULL), NULL);
        for (tries = 0; tries < 8; tries++) {
            char *t = token(cases[i].alg, k, apr_psprintf(P, "{\"alg\":\"%s\"}", cases[i].alg));
            size_t rawlen, derlen;
            unsigned char *raw = sig_of(t, &rawlen);
            unsigned char *der = tk_ecdsa_raw_to_der(P, &derlen, raw, rawlen);

            ck_assert_uint_eq(rawlen, cases[i].raw);
            if (derlen == cases[i].raw)
                continue; /* short r and s: a DER that happens to be raw-sized; sign again */
            verify_is(with_sig(t, der, derlen), s, all_algs(), APR_EINVAL,
                      "bad ECDSA signature length");
            break;
        }
        ck_assert_int_lt(tries, 8);
    }
}
END_TEST

/* ---- structure ------------------------------------------------------------------------------ */

START_TEST(wrong_segment_counts)
{
    char *t = token("RS256", tk_rsa, "{\"alg\":\"RS256\"}");
    const char *h = seg(t, 0), *p = seg(t, 1), *s = seg(t, 2);

    decode_fails(h, "token is not three segments");
    decode_fails(apr_pstrcat(P, h, ".", p, NULL), "token is not three segments");
    decode_fails(apr_pstrcat(P, t, ".", s, NULL), "token is not three segments");
    decode_fails(apr_pstrcat(P, t, ".", s, ".", s, NULL), "token is not three segments");
    decode_fails(apr_pstrcat(P, t, ".", NULL), "token is not three segments");
    decode_fails(apr_pstrcat(P, ".", t, NULL), "token is not three segments");
    decode_fails(apr_pstrcat(P, h, "..", p, ".", s, NULL), "token is not three segments");
    decode_fails(".", "token is not three segments");
    decode_fails("...", "token is not three segments");
    decode_fails("....", "token is not three segments");
    decode_fails("..", "signature missing");
    decode_fails(apr_pstrcat(P, h, ".", p, ".", NULL), "signature missing");
    decode_fails(apr_pstrcat(P, ".", p, ".", s, NULL), "header JSON: empty");
    decode_fails(apr_pstrcat(P, h, "..", s, NULL), "payload JSON: empty");
    decode_fails(apr_pstrcat(P, "..", s, NULL), "header JSON: empty");
    decode_fails_len("", 0, "token empty");
    decode_fails_len(NULL, 0, "token empty");
    /* JWS JSON serialization is not a compact token. */
    decode_fails(apr_psprintf(P, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}",
                              h, p, s), "token is not three segments");
}
END_TEST

/* '=' padding and characters outside the base64url alphabet, in each segment. */
START_TEST(illegal_characters_in_each_segment)
{
    static const char *const inject[] = {
        "=", "==", "+", "/", " ", "\t", "\n", "\r", "\x80", "\xff", "%", "\\", "\"", "*", "~",
        "%2B", "\xc3\xa9",
    };
    static const char *const reasons[] = {
        "header is not base64url", "payload is not base64url", "signature is not base64url",
    };
    char *t = token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}");
    int i;
    size_t j;

    decode(t);
    for (i = 0; i < 3; i++) {
        const char *s = seg(t, i);
        size_t mid = strlen(s) / 2;

        for (j = 0; j < sizeof(inject) / sizeof(inject[0]); j++) {
            /* At the end (where padding would go), in the middle, and at the start. */
            decode_fails(with_seg(t, i, apr_pstrcat(P, s, inject[j], NULL)), reasons[i]);
            decode_fails(with_seg(t, i, apr_pstrcat(P, apr_pstrmemdup(P, s, mid), inject[j],
                                                    s + mid, NULL)), reasons[i]);
            decode_fails(with_seg(t, i, apr_pstrcat(P, inject[j], s, NULL)), reasons[i]);
        }
        /* A NUL byte inside the segment, the length given explicitly. */
        {
            char *bad = apr_pstrdup(P, t);
            size_t len = strlen(bad);
            char *sp = strstr(bad, s);
            sp[mid] = '\0';
            decode_fails_len(bad, len, reasons[i]);
        }
        /* The standard alphabet's '+' and '/' in place of '-' and '_'. */
        {
            char *std = apr_pstrdup(P, s);
            char *c = std + strcspn(std, "-_");
            if (*c) {
                *c = *c == '-' ? '+' : '/';
                decode_fails(with_seg(t, i, std), reasons[i]);
            }
        }
    }
    /* A NUL just past the token, counted in the length. */
    {
        size_t len = strlen(t) + 1;
        decode_fails_len(t, len, reasons[2]);
    }
}
END_TEST

static int b64_index(char c)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    return (int)(strchr(abc, c) - abc);
}

static char b64_char(int v)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    return abc[v];
}

/* Every non-canonical spelling of a segment's last character (unused low bits set). */
static void noncanonical_each(const char *t, int i, const char *reason)
{
    const char *s = seg(t, i);
    size_t len = strlen(s);
    int unused = len % 4 == 2 ? 4 : len % 4 == 3 ? 2 : 0, bit;

    ck_assert_int_ne(unused, 0);
    for (bit = 0; bit < unused; bit++) {
        char *nc = apr_pstrdup(P, s);
        int v = b64_index(nc[len - 1]);
        ck_assert_int_eq(v & ((1 << unused) - 1), 0);
        nc[len - 1] = b64_char(v | (1 << bit));
        decode_fails(with_seg(t, i, nc), reason);
    }
}

/* A header or payload text padded with spaces so its base64url length % 4 == want. */
static char *json_with_b64_residue(const char *json, int want)
{
    char *s = apr_pstrdup(P, json);
    while ((int)(strlen(tk_b64url_str(P, s)) % 4) != want)
        s = apr_pstrcat(P, " ", s, NULL);
    return s;
}

START_TEST(noncanonical_trailing_bits)
{
    static const unsigned char secret[32] = "an HS256 secret of 32 bytes....";
    int want;

    for (want = 2; want <= 3; want++) {
        char *h = json_with_b64_residue("{\"alg\":\"RS256\"}", want);
        char *p = json_with_b64_residue(PAYLOAD, want);
        char *t = tk_token(P, "RS256", tk_rsa, NULL, 0, h, p);

        verify_is(t, set_of(jwk(tk_rsa, NULL), NULL), all_algs(), APR_SUCCESS, NULL);
        noncanonical_each(t, 0, "header is not base64url");
        noncanonical_each(t, 1, "payload is not base64url");
    }
    /* RS256 (256 bytes: 4 unused bits), ES256 and EdDSA (64 bytes: 4), HS256 (32 bytes: 2). */
    noncanonical_each(token("RS256", tk_rsa, "{\"alg\":\"RS256\"}"), 2,
                      "signature is not base64url");
    noncanonical_each(token("ES256", tk_p256, "{\"alg\":\"ES256\"}"), 2,
                      "signature is not base64url");
    noncanonical_each(token("EdDSA", tk_ed, "{\"alg\":\"EdDSA\"}"), 2,
                      "signature is not base64url");
    noncanonical_each(token_hs(secret, sizeof(secret), "{\"alg\":\"HS256\"}", PAYLOAD), 2,
                      "signature is not base64url");
    /* A length of 4k + 1 characters spells no byte string at all. */
    {
        char *t = token("RS256", tk_rsa, "{\"alg\":\"RS256\"}"); /* header: 20 characters */
        decode_fails(with_seg(t, 0, apr_pstrcat(P, seg(t, 0), "A", NULL)),
                     "header is not base64url");
        decode_fails(with_seg(t, 2, apr_pstrcat(P, seg(t, 2), "AAA", NULL)),
                     "signature is not base64url");
    }
}
END_TEST

START_TEST(duplicate_members)
{
    static const char *const headers[] = {
        "{\"alg\":\"RS256\",\"alg\":\"none\"}",
        "{\"alg\":\"none\",\"alg\":\"RS256\"}",
        "{\"alg\":\"RS256\",\"alg\":\"RS256\"}",
        "{\"alg\":\"RS256\",\"al\\u0067\":\"HS256\"}",
        "{\"alg\":\"RS256\",\"kid\":\"r1\",\"kid\":\"r2\"}",
        "{\"alg\":\"RS256\",\"crit\":[],\"crit\":[]}",
    };
    static const char *const payloads[] = {
        "{\"sub\":\"a\",\"exp\":1700003600,\"sub\":\"b\"}",
        "{\"exp\":1700003600,\"exp\":9999999999}",
        "{\"exp\":1700003600,\"iss\":\"" ISS "\",\"iss\":\"https://evil.example/\"}",
        "{\"exp\":1700003600,\"x\":{\"a\":1,\"a\":2}}",
        "{\"exp\":1700003600,\"x\":[{\"a\":1},{\"b\":1,\"b\":2}]}",
        "{\"exp\":1700003600,\"\\u0065xp\":1}",
    };
    size_t i;

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        decode_fails(token("RS256", tk_rsa, headers[i]), "header JSON: duplicate member name");
    for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
        decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}", payloads[i]),
                     "payload JSON: duplicate member name");
    /* Same names in different objects are not duplicates. */
    decode(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}",
                    "{\"exp\":1700003600,\"x\":{\"exp\":1},\"y\":[{\"a\":1},{\"a\":1}]}"));
}
END_TEST

/* "[[[...]]]" nested to depth d inside a member of an object at depth 1. */
static char *nested(int d, const char *open, const char *close, const char *leaf)
{
    apr_array_header_t *a = apr_array_make(P, 2 * d + 1, sizeof(const char *));
    int i;

    for (i = 0; i < d; i++)
        APR_ARRAY_PUSH(a, const char *) = open;
    APR_ARRAY_PUSH(a, const char *) = leaf;
    for (i = 0; i < d; i++)
        APR_ARRAY_PUSH(a, const char *) = close;
    return apr_array_pstrcat(P, a, 0);
}

START_TEST(nesting_depth)
{
    agw_jwks_t *s = set_of(jwk(tk_rsa, NULL), NULL);
    const char *ok_hdr = apr_pstrcat(P, "{\"alg\":\"RS256\",\"x\":", nested(15, "[", "]", "1"),
                                     "}", NULL);
    const char *deep_hdr = apr_pstrcat(P, "{\"alg\":\"RS256\",\"x\":", nested(16, "[", "]", "1"),
                                       "}", NULL);
    const char *ok_pl = apr_pstrcat(P, "{\"exp\":1700003600,\"x\":",
                                    nested(15, "{\"a\":", "}", "1"), "}", NULL);
    const char *deep_pl = apr_pstrcat(P, "{\"exp\":1700003600,\"x\":",
                                      nested(16, "{\"a\":", "}", "1"), "}", NULL);
    const char *mixed_pl = apr_pstrcat(P, "{\"exp\":1700003600,\"x\":",
                                       nested(8, "[{\"a\":", "}]", "1"), "}", NULL);
    const char *huge_pl = apr_pstrcat(P, "{\"exp\":1700003600,\"x\":",
                                      nested(5000, "[", "]", "1"), "}", NULL);

    /* Depth 16 (the outer object counts as 1) passes; 17 does not. */
    verify_is(token("RS256", tk_rsa, ok_hdr), s, all_algs(), APR_SUCCESS, NULL);
    decode_fails(token("RS256", tk_rsa, deep_hdr), "header JSON: nesting too deep");
    verify_is(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}", ok_pl), s, all_algs(),
              APR_SUCCESS, NULL);
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}", deep_pl),
                 "payload JSON: nesting too deep");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}", mixed_pl),
                 "payload JSON: nesting too deep");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}", huge_pl),
                 "payload JSON: nesting too deep");
    /* Unbalanced: opened deep, never closed. */
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}",
                          apr_pstrcat(P, "{\"x\":", nested(20, "[", "", ""), NULL)),
                 "payload JSON: nesting too deep");
    /* Brackets inside strings are text, not nesting. */
    verify_is(tk_token(P, "RS256", tk_rsa, NULL, 0,
                       "{\"alg\":\"RS256\",\"x\":\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{\"}",
                       "{\"exp\":1,\"y\":\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}"),
              s, all_algs(), APR_SUCCESS, NULL);
}
END_TEST

/* A token whose total length is exactly len (signed RS256), by padding a claim. */
static char *token_of_length(size_t len)
{
    int hpad, ppad;

    for (hpad = 0; hpad < 4; hpad++) {
        char *h = apr_pstrcat(P, "{\"alg\":\"RS256\"", apr_pstrndup(P, "    ", (apr_size_t)hpad),
                              "}", NULL);
        size_t fixed = strlen(tk_b64url_str(P, h)) + 2 + 342; /* RS256 2048: 342 characters */
        for (ppad = (int)((len - fixed) * 3 / 4) - 80; ppad < (int)((len - fixed) * 3 / 4); ppad++) {
            char *pl;
            char *pad = apr_palloc(P, (apr_size_t)ppad + 1);
            memset(pad, 'x', (size_t)ppad);
            pad[ppad] = '\0';
            pl = apr_psprintf(P, "{\"exp\":1700003600,\"pad\":\"%s\"}", pad);
            if (fixed + strlen(tk_b64url_str(P, pl)) == len) {
                char *t = tk_token(P, "RS256", tk_rsa, NULL, 0, h, pl);
                ck_assert_uint_eq(strlen(t), len);
                return t;
            }
        }
    }
    ck_abort_msg("no token of length %lu", (unsigned long)len);
    return NULL;
}

START_TEST(token_size_limit)
{
    char *max = token_of_length(AGW_TOKEN_MAX_BYTES);
    char *over = token_of_length(AGW_TOKEN_MAX_BYTES + 1);
    agw_jwks_t *s = set_of(jwk(tk_rsa, NULL), NULL);
    agw_jws_t *jws = NULL;
    agw_err_t err = { 0 };
    size_t len = strlen(max);

    verify_is(max, s, all_algs(), APR_SUCCESS, NULL);
    decode_fails(over, "token too large");
    /* The caller's own, smaller bound. */
    ck_assert_int_eq(agw_jws_decode(&jws, P, max, len, len, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_jws_decode(&jws, P, max, len, len - 1, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "token too large");
    /* 64 KiB of garbage is refused by size before anything is parsed. */
    {
        char *big = apr_palloc(P, 65536);
        memset(big, '.', 65536);
        decode_fails_len(big, 65536, "token too large");
    }
}
END_TEST

START_TEST(crit_refused)
{
    static const char *const headers[] = {
        "{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1700003600}",
        "{\"alg\":\"RS256\",\"crit\":[\"b64\"],\"b64\":false}",
        "{\"alg\":\"RS256\",\"crit\":[\"urn:example:unknown\"],\"urn:example:unknown\":1}",
        "{\"alg\":\"RS256\",\"crit\":[]}",
        "{\"alg\":\"RS256\",\"crit\":\"exp\"}",
        "{\"alg\":\"RS256\",\"crit\":null}",
    };
    size_t i;

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        decode_fails(token("RS256", tk_rsa, headers[i]), "crit not supported");
}
END_TEST

START_TEST(header_member_types)
{
    decode_fails(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":1}"), "kid is not a string");
    decode_fails(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":null}"), "kid is not a string");
    decode_fails(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":[\"r1\"]}"),
                 "kid is not a string");
    decode_fails(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"x5t\":[]}"), "x5t is not a string");
    decode_fails(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"typ\":{}}"), "typ is not a string");
    decode_fails(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":\"a\\u0000b\"}"),
                 "header JSON: embedded NUL");
}
END_TEST

START_TEST(header_and_payload_not_objects)
{
    static const char *const not_objects[] = { "[]", "[{\"alg\":\"RS256\"}]", "\"RS256\"",
                                               "null", "1", "true" };
    size_t i;

    for (i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
        decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, not_objects[i], PAYLOAD),
                     "header is not a JSON object");
        decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}", not_objects[i]),
                     "payload is not a JSON object");
    }
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"", PAYLOAD),
                 "header JSON: truncated");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}x", PAYLOAD),
                 "header JSON: trailing data");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}{}", PAYLOAD),
                 "header JSON: trailing data");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "\xef\xbb\xbf{\"alg\":\"RS256\"}", PAYLOAD),
                 "header JSON: syntax error");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{'alg':'RS256'}", PAYLOAD),
                 "header JSON: syntax error");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\",}", PAYLOAD),
                 "header JSON: syntax error");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}",
                          "{\"exp\":1700003600,\"sub\":\"\xff\"}"), "payload JSON: invalid UTF-8");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}",
                          "{\"exp\":1700003600,\"sub\":\"\xc0\xaf\"}"), "payload JSON: invalid UTF-8");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}",
                          "{\"exp\":1700003600,\"sub\":\"\xed\xa0\x80\"}"),
                 "payload JSON: invalid UTF-8");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}",
                          "{\"exp\":1e400}"), "payload JSON: number out of range");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}",
                          "{\"exp\":99999999999999999999}"), "payload JSON: number out of range");
    decode_fails(tk_token(P, "RS256", tk_rsa, NULL, 0, "{\"alg\":\"RS256\"}",
                          "{\"exp\":1700003600,\"sub\":\"a\\u0000b\"}"), "payload JSON: embedded NUL");
    /* A raw NUL byte inside the decoded payload. */
    {
        static const char pl[] = "{\"exp\":1700003600,\"sub\":\"a\0b\"}";
        char *si = apr_pstrcat(P, tk_b64url_str(P, "{\"alg\":\"RS256\"}"), ".",
                               tk_b64url(P, (const unsigned char *)pl, sizeof(pl) - 1), NULL);
        size_t siglen;
        unsigned char *sig = tk_sign(P, &siglen, "RS256", tk_rsa, NULL, 0, si, strlen(si));
        decode_fails(apr_pstrcat(P, si, ".", tk_b64url(P, sig, siglen), NULL),
                     "payload JSON: embedded NUL");
    }
}
END_TEST

/* ---- keys against algs ----------------------------------------------------------------------- */

START_TEST(key_type_alg_mismatch)
{
    static const unsigned char secret[32] = "an HS256 secret of 32 bytes....";
    const char *rsa = jwk(tk_rsa, "k"), *ec256 = jwk(tk_p256, "k"), *ec384 = jwk(tk_p384, "k");
    const char *ed = jwk(tk_ed, "k");
    struct {
        const char *alg;
        EVP_PKEY *signer;
        const char *wrong, *right, *reason;
    } cases[] = {
        { "ES256", tk_p256, rsa, ec256, "key type does not match alg" },
        { "RS256", tk_rsa, ec256, rsa, "key type does not match alg" },
        { "PS256", tk_rsa, ed, rsa, "key type does not match alg" },
        { "EdDSA", tk_ed, ec256, ed, "key type does not match alg" },
        { "EdDSA", tk_ed, rsa, ed, "key type does not match alg" },
        { "ES256", tk_p256, ec384, ec256, "key curve does not match alg" },
        { "ES384", tk_p384, ec256, ec384, "key curve does not match alg" },
        { "ES512", tk_p384, ec384, NULL, "key curve does not match alg" },
        { "HS256", NULL, ed, NULL, "key type does not match alg" },
        { "HS256", NULL, rsa, NULL, "key type does not match alg" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *h = apr_psprintf(P, "{\"alg\":\"%s\",\"kid\":\"k\"}", cases[i].alg);
        char *t = !strcmp(cases[i].alg, "ES512")
                  ? tk_token(P, "ES384", tk_p384, NULL, 0, h, PAYLOAD) /* any signature */
                  : tk_token(P, cases[i].alg, cases[i].signer, secret, sizeof(secret), h, PAYLOAD);

        verify_is(t, set_of(cases[i].wrong, NULL), all_algs(), APR_EINVAL, cases[i].reason);
        if (cases[i].right)
            verify_is(t, set_of(cases[i].right, NULL), all_algs(), APR_SUCCESS, NULL);
    }
    /* With several wrong keys under the kid, the reason names the closest miss. */
    verify_is(token("ES256", tk_p256, "{\"alg\":\"ES256\",\"kid\":\"k\"}"),
              set_of(rsa, ec384, ed, NULL), all_algs(), APR_EINVAL,
              "key curve does not match alg");
    /* And the right key among wrong ones is found. */
    verify_is(token("ES256", tk_p256, "{\"alg\":\"ES256\",\"kid\":\"k\"}"),
              set_of(rsa, ec384, ed, ec256, NULL), all_algs(), APR_SUCCESS, NULL);
    /* The primitive refuses the same pairings. */
    {
        agw_jwks_t *s = set_of(rsa, ec256, NULL);
        agw_err_t err = { 0 };
        unsigned char sig[64] = { 1 };
        ck_assert_int_eq(agw_crypt_verify(AGW_ALG_ES256, key_at(s, 0)->pkey, NULL, 0,
                                          sig, 1, sig, 64, &err), APR_EINVAL);
        ck_assert_str_eq(err.reason, "key type does not match alg");
        ck_assert_int_eq(agw_crypt_verify(AGW_ALG_ES384, key_at(s, 1)->pkey, NULL, 0,
                                          sig, 1, sig, 64, &err), APR_EINVAL);
        ck_assert_str_eq(err.reason, "key curve does not match alg");
        ck_assert_int_eq(agw_crypt_verify(AGW_ALG_EDDSA, key_at(s, 1)->pkey, NULL, 0,
                                          sig, 1, sig, 64, &err), APR_EINVAL);
        ck_assert_str_eq(err.reason, "key type does not match alg");
        ck_assert_int_eq(agw_crypt_verify(AGW_ALG_RS256, NULL, NULL, 0, sig, 1, sig, 64, &err),
                         APR_EINVAL);
        ck_assert_str_eq(err.reason, "key type does not match alg");
        ck_assert_int_eq(agw_crypt_verify(AGW_ALG_NONE, key_at(s, 0)->pkey, NULL, 0,
                                          sig, 1, sig, 64, &err), APR_EINVAL);
        ck_assert_str_eq(err.reason, "alg not supported");
        ck_assert_int_eq(agw_crypt_verify(AGW_ALG_COUNT, key_at(s, 0)->pkey, NULL, 0,
                                          sig, 1, sig, 64, &err), APR_EINVAL);
        ck_assert_str_eq(err.reason, "alg not supported");
    }
}
END_TEST

START_TEST(jwk_alg_differs_from_token_alg)
{
    char *rs256 = token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":\"k\"}");
    char *ps256 = token("PS256", tk_rsa, "{\"alg\":\"PS256\",\"kid\":\"k\"}");

    verify_is(rs256, set_of(tk_jwk(P, tk_rsa, "k", "RS384", NULL), NULL), all_algs(), APR_EINVAL,
              "key alg does not match token alg");
    verify_is(ps256, set_of(tk_jwk(P, tk_rsa, "k", "RS256", NULL), NULL), all_algs(), APR_EINVAL,
              "key alg does not match token alg");
    verify_is(rs256, set_of(tk_jwk(P, tk_rsa, "k", "PS256", NULL), NULL), all_algs(), APR_EINVAL,
              "key alg does not match token alg");
    verify_is(rs256, set_of(tk_jwk(P, tk_rsa, "k", "RS256", NULL), NULL), all_algs(), APR_SUCCESS,
              NULL);
    verify_is(ps256, set_of(tk_jwk(P, tk_rsa, "k", "PS256", NULL), NULL), all_algs(), APR_SUCCESS,
              NULL);
    /* A JWK whose own alg cannot be its key's. */
    jwk_fails(tk_jwk(P, tk_rsa, "k", "ES256", NULL), "alg does not fit kty");
    jwk_fails(tk_jwk(P, tk_p256, "k", "ES384", NULL), "alg does not fit crv");
    jwk_fails(tk_jwk(P, tk_p256, "k", "EdDSA", NULL), "alg does not fit kty");
    jwk_fails(tk_jwk(P, tk_ed, "k", "ES256", NULL), "alg does not fit kty");
    jwk_fails(tk_jwk(P, tk_rsa, "k", "HS256", NULL), "alg does not fit kty");
    jwk_fails(tk_jwk(P, tk_rsa, "k", "RSA-OAEP", NULL), "alg unknown");
    jwk_fails(tk_jwk(P, tk_rsa, "k", "rs256", NULL), "alg unknown");
    jwk_fails(jwk_set_member(jwk(tk_rsa, "k"), "alg", "256"), "alg is not a string");
}
END_TEST

START_TEST(jwk_use_enc_and_key_ops)
{
    const char *enc = tk_jwk(P, tk_rsa, "e1", NULL, "enc");
    const char *doc = apr_pstrcat(P, "{\"keys\":[", enc, "]}", NULL);
    char *t = token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":\"e1\"}");
    agw_jwks_t *s = NULL;
    agw_err_t err = { 0 };

    jwk_fails(enc, "use is not sig");
    jwk_fails(tk_jwk(P, tk_rsa, "e1", NULL, "SIG"), "use is not sig");
    jwk_fails(tk_jwk(P, tk_rsa, "e1", NULL, ""), "use is not sig");
    jwk_fails(jwk_set_member(jwk(tk_rsa, "e1"), "use", "[\"sig\"]"), "use is not a string");
    jwk_fails(jwk_set_member(jwk(tk_rsa, "e1"), "key_ops", "[\"encrypt\"]"),
              "key_ops lacks verify");
    jwk_fails(jwk_set_member(jwk(tk_rsa, "e1"), "key_ops", "[]"), "key_ops lacks verify");
    jwk_fails(jwk_set_member(jwk(tk_rsa, "e1"), "key_ops", "\"verify\""),
              "key_ops is not an array");
    jwk_fails(jwk_set_member(jwk(tk_rsa, "e1"), "key_ops", "[1]"),
              "key_ops is not an array of strings");
    jwk_ok(jwk_set_member(jwk(tk_rsa, "e1"), "key_ops", "[\"sign\",\"verify\"]"));

    /* In a set: skipped with a line, and the token's kid then names no key. */
    ck_assert_int_eq(agw_jwks_parse(&s, P, doc, strlen(doc), &err), APR_SUCCESS);
    ck_assert_int_eq(s->keys->nelts, 0);
    ck_assert_int_eq(s->skipped->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(s->skipped, 0, const char *), "key #1 (kid e1): use is not sig");
    verify_is(t, s, all_algs(), APR_NOTFOUND, "unknown key");
    /* Control: the same key marked for signing verifies. */
    verify_is(t, set_of(tk_jwk(P, tk_rsa, "e1", NULL, "sig"), NULL), all_algs(), APR_SUCCESS, NULL);
}
END_TEST

START_TEST(kid_pointing_to_no_key)
{
    agw_jwks_t *s = set_of(jwk(tk_rsa, "r1"), jwk(tk_p256, "e1"), NULL);
    agw_jwks_t *empty = NULL;
    agw_err_t err = { 0 };
    static const char *const kids[] = { "r2", "R1", "r", "r1 ", " r1", "r1\\u0000", "e1" };
    size_t i;

    for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
        const char *h = apr_psprintf(P, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kids[i]);
        char *t = token("RS256", tk_rsa, h);
        if (strstr(kids[i], "\\u0000")) {
            decode_fails(t, "header JSON: embedded NUL");
            continue;
        }
        if (!strcmp(kids[i], "e1")) /* the kid exists, on a key of another type */
            verify_is(t, s, all_algs(), APR_EINVAL, "key type does not match alg");
        else
            verify_is(t, s, all_algs(), APR_NOTFOUND, "unknown key");
    }
    ck_assert_int_eq(agw_jwks_parse(&empty, P, "{\"keys\":[]}", 11, &err), APR_SUCCESS);
    verify_is(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}"), empty, all_algs(),
              APR_NOTFOUND, "unknown key");
    verify_is(token("RS256", tk_rsa, "{\"alg\":\"RS256\"}"), empty, all_algs(), APR_NOTFOUND,
              "unknown key");
    verify_is(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}"), s, all_algs(),
              APR_SUCCESS, NULL);
    /* A NULL set is no set. */
    {
        agw_jws_t *jws = decode(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}"));
        ck_assert_int_eq(agw_jws_verify(jws, NULL, all_algs(), &err), APR_NOTFOUND);
        ck_assert_str_eq(err.reason, "unknown key");
    }
}
END_TEST

/* A kid names the key; the right signature from another key under the wrong kid fails. */
START_TEST(kid_selects_only_its_keys)
{
    agw_jwks_t *s = set_of(jwk(tk_rsa, "r1"), jwk(tk_rsa2, "r2"), NULL);
    char *t = token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":\"r2\"}");
    agw_jws_t *jws;

    verify_is(t, s, all_algs(), APR_EINVAL, "signature invalid");
    jws = verify_is(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}"), s, all_algs(),
                    APR_SUCCESS, NULL);
    ck_assert_ptr_eq(jws->key, key_at(s, 0));
    /* No kid: every key is tried, and the one that signed is reported. */
    jws = verify_is(token("RS256", tk_rsa2, "{\"alg\":\"RS256\"}"), s, all_algs(), APR_SUCCESS,
                    NULL);
    ck_assert_ptr_eq(jws->key, key_at(s, 1));
    /* Two RSA keys under one kid: ambiguous, neither is used (the EC key under the same kid
     * is another type and stays); a token naming the kid is not verified by either. */
    {
        const char *doc = apr_psprintf(P, "{\"keys\":[%s,%s,%s]}", jwk(tk_rsa2, "dup"),
                                       jwk(tk_p256, "dup"), jwk(tk_rsa, "dup"));
        agw_err_t err = { NULL, NULL, AGW_R_NONE };
        ck_assert_int_eq(agw_jwks_parse(&s, P, doc, strlen(doc), &err), APR_SUCCESS);
    }
    ck_assert_int_eq(s->keys->nelts, 1);
    ck_assert_int_eq(key_at(s, 0)->kty, AGW_KTY_EC);
    verify_is(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":\"dup\"}"), s, all_algs(),
              APR_EINVAL, "key type does not match alg");
}
END_TEST

START_TEST(x5t_mismatch)
{
    const char *kx = jwk_set_member(jwk(tk_rsa, "k"), "x5t", "\"dGh1bWJwcmludC1h\"");
    agw_jwks_t *s = set_of(kx, NULL);

    verify_is(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":\"k\",\"x5t\":\"dGh1bWJwcmludC1i\"}"),
              s, all_algs(), APR_EINVAL, "x5t does not match key");
    verify_is(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":\"k\",\"x5t\":\"dGh1bWJwcmludC1h\"}"),
              s, all_algs(), APR_SUCCESS, NULL);
    verify_is(token("RS256", tk_rsa, "{\"alg\":\"RS256\",\"kid\":\"k\"}"), s, all_algs(),
              APR_SUCCESS, NULL);
    jwk_fails(jwk_set_member(jwk(tk_rsa, "k"), "x5t", "1"), "x5t is not a string");
    jwk_fails(jwk_set_member(jwk(tk_rsa, "k"), "kid", "1"), "kid is not a string");
}
END_TEST

/* Keys offered by the token itself (jwk, jku, x5u, x5c) are never used: the attacker signs
 * with their own key and embeds it, and only the configured set counts. */
START_TEST(header_embedded_keys_ignored)
{
    agw_jwks_t *s = set_of(jwk(tk_rsa, "r1"), NULL);
    const char *evil = jwk(tk_rsa2, "r1");
    const char *headers[] = {
        apr_psprintf(P, "{\"alg\":\"RS256\",\"kid\":\"r1\",\"jwk\":%s}", evil),
        apr_psprintf(P, "{\"alg\":\"RS256\",\"jwk\":%s}", evil),
        "{\"alg\":\"RS256\",\"kid\":\"r1\",\"jku\":\"https://evil.example/jwks.json\"}",
        "{\"alg\":\"RS256\",\"kid\":\"r1\",\"x5u\":\"https://evil.example/cert.pem\"}",
        "{\"alg\":\"RS256\",\"kid\":\"r1\",\"x5c\":[\"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\"]}",
    };
    size_t i;

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        verify_is(token("RS256", tk_rsa2, headers[i]), s, all_algs(), APR_EINVAL,
                  "signature invalid");
        verify_is(token("RS256", tk_rsa, headers[i]), s, all_algs(), APR_SUCCESS, NULL);
    }
}
END_TEST

/* ---- keys themselves ------------------------------------------------------------------------ */

START_TEST(rsa_weak_keys_refused)
{
    const char *weak = jwk(tk_rsa1024, "weak");
    const char *doc = apr_pstrcat(P, "{\"keys\":[", weak, "]}", NULL);
    size_t nlen;
    unsigned char *n = tk_bn_param(P, tk_rsa, OSSL_PKEY_PARAM_RSA_N, 0, &nlen);
    unsigned char *n2047 = apr_pmemdup(P, n, nlen), *n0 = apr_palloc(P, nlen + 1);
    unsigned char *neven = apr_pmemdup(P, n, nlen);
    agw_jwks_t *s = NULL;
    agw_err_t err = { 0 };
    agw_jwk_t *k;

    jwk_fails(weak, "RSA key under 2048 bits");
    ck_assert_int_eq(agw_jwks_parse(&s, P, doc, strlen(doc), &err), APR_SUCCESS);
    ck_assert_int_eq(s->keys->nelts, 0);
    ck_assert_str_eq(APR_ARRAY_IDX(s->skipped, 0, const char *),
                     "key #1 (kid weak): RSA key under 2048 bits");
    verify_is(token("RS256", tk_rsa1024, "{\"alg\":\"RS256\",\"kid\":\"weak\"}"), s, all_algs(),
              APR_NOTFOUND, "unknown key");

    /* One bit short of 2048 (top bit cleared; the number stays odd). */
    n2047[0] &= 0x7f;
    jwk_fails(jwk_set_member(jwk(tk_rsa, NULL), "n", b64_of_bytes(n2047, nlen)),
              "RSA key under 2048 bits");
    /* A leading zero octet (RFC 7518 6.3.1.1 tolerance) keeps 2048 bits. */
    n0[0] = 0;
    memcpy(n0 + 1, n, nlen);
    k = jwk_ok(jwk_set_member(jwk(tk_rsa, NULL), "n", b64_of_bytes(n0, nlen + 1)));
    ck_assert_int_eq(k->bits, 2048);
    neven[nlen - 1] &= 0xfe;
    jwk_fails(jwk_set_member(jwk(tk_rsa, NULL), "n", b64_of_bytes(neven, nlen)),
              "RSA modulus invalid");
    jwk_fails(jwk_set_member(jwk(tk_rsa, NULL), "n", "\"\""), "RSA modulus invalid");
    jwk_fails(jwk_set_member(jwk(tk_rsa, NULL), "n", "\"AA\""), "RSA modulus invalid");
    jwk_fails(jwk_set_member(jwk(tk_rsa, NULL), "e", "\"AQ\""), "RSA exponent invalid");   /* 1 */
    jwk_fails(jwk_set_member(jwk(tk_rsa, NULL), "e", "\"Ag\""), "RSA exponent invalid");   /* 2 */
    /* even */
    jwk_fails(jwk_set_member(jwk(tk_rsa, NULL), "e", "\"AQAA\""), "RSA exponent invalid");
    jwk_fails(jwk_set_member(jwk(tk_rsa, NULL), "e", "\"\""), "RSA exponent invalid");
    jwk_fails(jwk_set_member(jwk(tk_rsa, NULL), "e", "\"AQAAAAAAAAAAAQ\""),
              "RSA exponent invalid"); /* 9 bytes */
    jwk_fails(jwk_set_member(jwk(tk_rsa, NULL), "e", "65537"), "RSA e missing or not base64url");
    jwk_fails(jwk_set_member(jwk(tk_rsa, NULL), "n", "\"AQAB=\""),
              "RSA n missing or not base64url");
    jwk_fails("{\"kty\":\"RSA\",\"e\":\"AQAB\"}", "RSA n missing or not base64url");
    k = jwk_ok(jwk_set_member(jwk(tk_rsa, NULL), "e", "\"AAEAAQ\"")); /* zero-padded 65537 */
    ck_assert_int_eq(k->bits, 2048);
}
END_TEST

START_TEST(ec_bad_points_refused)
{
    size_t xl, yl;
    unsigned char *x = tk_bn_param(P, tk_p256, OSSL_PKEY_PARAM_EC_PUB_X, 32, &xl);
    unsigned char *y = tk_bn_param(P, tk_p256, OSSL_PKEY_PARAM_EC_PUB_Y, 32, &yl);
    unsigned char *y2 = apr_pmemdup(P, y, yl), zero[33] = { 0 }, *x33 = apr_palloc(P, 33);
    const char *good = jwk(tk_p256, NULL);
    const char *k384 = jwk(tk_p384, NULL);

    jwk_ok(good);
    y2[31] ^= 1;
    jwk_fails(jwk_set_member(good, "y", b64_of_bytes(y2, 32)), "EC point not on curve");
    jwk_fails(jwk_set_member(jwk_set_member(good, "x", b64_of_bytes(y, 32)), "y",
                             b64_of_bytes(x, 32)), "EC point not on curve"); /* swapped */
    jwk_fails(jwk_set_member(jwk_set_member(good, "x", b64_of_bytes(zero, 32)), "y",
                             b64_of_bytes(zero, 32)), "EC point not on curve");
    /* The field prime p as x: out of range whatever y is. */
    {
        static const unsigned char p256_p[32] = {
            0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
        jwk_fails(jwk_set_member(good, "x", b64_of_bytes(p256_p, 32)), "EC point not on curve");
    }
    jwk_fails(jwk_set_member(good, "x", b64_of_bytes(x + 1, 31)), "EC coordinate length invalid");
    x33[0] = 0;
    memcpy(x33 + 1, x, 32);
    jwk_fails(jwk_set_member(good, "x", b64_of_bytes(x33, 33)), "EC coordinate length invalid");
    jwk_fails(jwk_set_member(k384, "crv", "\"P-256\""), "EC coordinate length invalid");
    jwk_fails(jwk_set_member(good, "crv", "\"P-384\""), "EC coordinate length invalid");
    jwk_fails(jwk_set_member(good, "crv", "\"secp256k1\""), "EC curve not supported");
    jwk_fails(jwk_set_member(good, "crv", "\"p-256\""), "EC curve not supported");
    jwk_fails(jwk_set_member(good, "crv", "\"Ed25519\""), "EC curve not supported");
    jwk_fails(jwk_set_member(good, "crv", "256"), "crv is not a string");
    jwk_fails("{\"kty\":\"EC\",\"x\":\"AA\",\"y\":\"AA\"}", "EC crv missing");
    jwk_fails(jwk_set_member(good, "y", "null"), "EC y missing or not base64url");
}
END_TEST

START_TEST(okp_bad_keys_refused)
{
    unsigned char x[32];
    size_t xl = sizeof(x);
    const char *good = jwk(tk_ed, NULL);

    ck_assert_int_eq(EVP_PKEY_get_raw_public_key(tk_ed, x, &xl), 1);
    jwk_ok(good);
    jwk_fails(jwk_set_member(good, "crv", "\"X25519\""), "OKP curve not supported");
    jwk_fails(jwk_set_member(good, "crv", "\"Ed448\""), "OKP curve not supported");
    jwk_fails(jwk_set_member(good, "crv", "\"P-256\""), "OKP curve not supported");
    jwk_fails(jwk_set_member(good, "x", b64_of_bytes(x, 31)), "Ed25519 key length invalid");
    jwk_fails("{\"kty\":\"OKP\",\"x\":\"AA\"}", "OKP crv missing");
    jwk_fails("{\"kty\":\"okp\",\"crv\":\"Ed25519\",\"x\":\"AA\"}", "kty not supported");
    jwk_fails("{\"kty\":\"\",\"crv\":\"Ed25519\",\"x\":\"AA\"}", "kty not supported");
    jwk_fails("{\"crv\":\"Ed25519\",\"x\":\"AA\"}", "kty missing");
    jwk_fails("{\"kty\":[\"OKP\"],\"crv\":\"Ed25519\",\"x\":\"AA\"}", "kty is not a string");
}
END_TEST

START_TEST(jwks_documents_hostile)
{
    agw_jwks_t *s = NULL;
    agw_err_t err = { 0 };
    const char *k = jwk(tk_p256, NULL);
    static const struct { const char *doc; const char *reason; } bad[] = {
        { "[]", "JWKS is not a JSON object" },
        { "{}", "JWKS has no keys array" },
        { "{\"keys\":{}}", "JWKS has no keys array" },
        { "{\"keys\":null}", "JWKS has no keys array" },
        { "{\"Keys\":[]}", "JWKS has no keys array" },
        { "{\"keys\":[],\"keys\":[]}", "JSON: duplicate member name" },
        { "{\"keys\":[{\"kty\":\"EC\",\"kty\":\"RSA\"}]}", "JSON: duplicate member name" },
        { "", "JSON: empty" },
        { "{\"keys\":[]} x", "JSON: trailing data" },
        { "{\"keys\":[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]}", "JSON: nesting too deep" },
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s = (agw_jwks_t *)1;
        ck_assert_int_eq(agw_jwks_parse(&s, P, bad[i].doc, strlen(bad[i].doc), &err), APR_EINVAL);
        ck_assert_ptr_null(s);
        ck_assert_ptr_null(err.code); /* a key document is not a token */
        ck_assert_msg(strcmp(err.reason, bad[i].reason) == 0, "%s: got \"%s\"", bad[i].doc,
                      err.reason);
    }
    /* Too large, whatever it holds. */
    {
        size_t n = AGW_JWKS_MAX_BYTES + 1;
        char *big = apr_palloc(P, n);
        memset(big, ' ', n);
        memcpy(big, "{\"keys\":[]}", 11);
        ck_assert_int_eq(agw_jwks_parse(&s, P, big, n, &err), APR_EINVAL);
        ck_assert_str_eq(err.reason, "JWKS too large");
        /* Exactly at the limit is parsed. */
        ck_assert_int_eq(agw_jwks_parse(&s, P, big, n - 1, &err), APR_SUCCESS);
    }
    /* Unusable entries are skipped with a printable line; kids are sanitized. */
    {
        const char *doc = apr_pstrcat(P, "{\"keys\":[1,\"x\",{},{\"kty\":\"EC\",\"kid\":\"a\\\"b\\\\c\\n\\u00e9\"},",
                                      k, "]}", NULL);
        ck_assert_int_eq(agw_jwks_parse(&s, P, doc, strlen(doc), &err), APR_SUCCESS);
        ck_assert_int_eq(s->keys->nelts, 1);
        ck_assert_int_eq(s->skipped->nelts, 4);
        ck_assert_str_eq(APR_ARRAY_IDX(s->skipped, 0, const char *), "key #1: JWK is not an object");
        ck_assert_str_eq(APR_ARRAY_IDX(s->skipped, 1, const char *), "key #2: JWK is not an object");
        ck_assert_str_eq(APR_ARRAY_IDX(s->skipped, 2, const char *), "key #3: kty missing");
        ck_assert_str_eq(APR_ARRAY_IDX(s->skipped, 3, const char *),
                         "key #4 (kid a?b?c?\?\?): EC crv missing");
    }
    /* More than AGW_JWKS_MAX_KEYS: the first 64 are used, the rest reported. */
    {
        apr_array_header_t *a = apr_array_make(P, 70, sizeof(const char *));
        const char *doc;
        for (i = 0; i < AGW_JWKS_MAX_KEYS + 6; i++)
            APR_ARRAY_PUSH(a, const char *) = jwk_set_member(k, "kid",
                                                             apr_psprintf(P, "\"k%lu\"", (unsigned long)i));
        doc = apr_pstrcat(P, "{\"keys\":[", apr_array_pstrcat(P, a, ','), "]}", NULL);
        ck_assert_int_eq(agw_jwks_parse(&s, P, doc, strlen(doc), &err), APR_SUCCESS);
        ck_assert_int_eq(s->keys->nelts, AGW_JWKS_MAX_KEYS);
        ck_assert_int_eq(s->skipped->nelts, 1);
        ck_assert_str_eq(APR_ARRAY_IDX(s->skipped, 0, const char *),
                         "keys #65 to #70: more than 64 keys");
        verify_is(token("ES256", tk_p256, "{\"alg\":\"ES256\",\"kid\":\"k63\"}"), s, all_algs(),
                  APR_SUCCESS, NULL);
        verify_is(token("ES256", tk_p256, "{\"alg\":\"ES256\",\"kid\":\"k64\"}"), s, all_algs(),
                  APR_NOTFOUND, "unknown key");
    }
}
END_TEST

/* ---- claims ------------------------------------------------------------------------------- */

/* Full path: decode, verify, then the registered claims at NOW with 30 s leeway. */
static void claims_are(const char *payload, const char *reason)
{
    char *t = tk_token(P, "ES256", tk_p256, NULL, 0, "{\"alg\":\"ES256\"}", payload);
    agw_jws_t *jws = verify_is(t, set_of(jwk(tk_p256, NULL), NULL), AGW_ALG_BIT(AGW_ALG_ES256),
                               APR_SUCCESS, NULL);
    apr_array_header_t *aud = apr_array_make(P, 1, sizeof(const char *));
    agw_err_t err = { 0 };
    apr_status_t rv;

    APR_ARRAY_PUSH(aud, const char *) = "https://api.example";
    rv = agw_jwt_check_claims(jws->payload, ISS, aud, NOW, 30, &err);
    if (!reason) {
        ck_assert_msg(rv == APR_SUCCESS, "%s: refused: %s", payload, err.reason);
        return;
    }
    ck_assert_int_eq(rv, APR_EINVAL);
    ck_assert_str_eq(err.code, AGW_E_INVALID_TOKEN);
    ck_assert_msg(strcmp(err.reason, reason) == 0, "%s: got \"%s\", want \"%s\"", payload,
                  err.reason, reason);
    kind_is(&err, reason);
}

#define C(rest) "{\"iss\":\"" ISS "\",\"aud\":\"https://api.example\"" rest "}"

START_TEST(claims_time_and_shape)
{
    claims_are(C(",\"exp\":1700003600"), NULL);
    claims_are(C(""), "exp missing");
    claims_are(C(",\"EXP\":1700003600"), "exp missing");
    claims_are(C(",\"exp\":\"9999999999\""), "exp not a number");
    claims_are(C(",\"exp\":\"1700003600\""), "exp not a number");
    claims_are(C(",\"exp\":null"), "exp not a number");
    claims_are(C(",\"exp\":true"), "exp not a number");
    claims_are(C(",\"exp\":[1700003600]"), "exp not a number");
    claims_are(C(",\"exp\":{}"), "exp not a number");
    /* Valid while NOW < exp + 30. */
    claims_are(C(",\"exp\":1699999971"), NULL);
    claims_are(C(",\"exp\":1699999970"), "token expired");
    claims_are(C(",\"exp\":1699999969"), "token expired");
    claims_are(C(",\"exp\":1699999970.5"), NULL);
    claims_are(C(",\"exp\":0"), "token expired");
    /* Beyond 0..2^53 a time is malformed, not "valid forever" or "long expired". */
    claims_are(C(",\"exp\":-1"), "exp invalid");
    claims_are(C(",\"exp\":-9223372036854775808"), "exp invalid");
    claims_are(C(",\"exp\":9223372036854775807"), "exp invalid");
    claims_are(C(",\"exp\":1e300"), "exp invalid");
    claims_are(C(",\"exp\":-1e300"), "exp invalid");
    /* nbf and iat: at most NOW + 30. */
    claims_are(C(",\"exp\":1700003600,\"nbf\":1700000030"), NULL);
    claims_are(C(",\"exp\":1700003600,\"nbf\":1700000031"), "token not yet valid");
    claims_are(C(",\"exp\":1700003600,\"nbf\":\"0\""), "nbf not a number");
    claims_are(C(",\"exp\":1700003600,\"iat\":1700000030"), NULL);
    claims_are(C(",\"exp\":1700003600,\"iat\":1700000031"), "iat in the future");
    claims_are(C(",\"exp\":1700003600,\"iat\":null"), "iat not a number");
    claims_are(C(",\"exp\":1700003600,\"iat\":9223372036854775807"), "iat invalid");
    /* A malformed exp is reported as malformed even when the token is also expired. */
    claims_are(C(",\"exp\":\"1\",\"nbf\":9999999999"), "exp not a number");
}
END_TEST

START_TEST(claims_issuer_and_audience)
{
    claims_are("{\"iss\":\"https://issuer.example\",\"aud\":\"https://api.example\",\"exp\":1700003600}",
               "issuer mismatch");
    claims_are("{\"iss\":\"HTTPS://issuer.example/\",\"aud\":\"https://api.example\",\"exp\":1700003600}",
               "issuer mismatch");
    claims_are("{\"aud\":\"https://api.example\",\"exp\":1700003600}", "issuer mismatch");
    claims_are("{\"iss\":[\"" ISS "\"],\"aud\":\"https://api.example\",\"exp\":1700003600}",
               "issuer mismatch");
    claims_are("{\"iss\":\"" ISS "\",\"exp\":1700003600}", "audience mismatch");
    claims_are("{\"iss\":\"" ISS "\",\"aud\":\"https://api.example/\",\"exp\":1700003600}",
               "audience mismatch");
    claims_are("{\"iss\":\"" ISS "\",\"aud\":[],\"exp\":1700003600}", "audience mismatch");
    claims_are("{\"iss\":\"" ISS "\",\"aud\":[\"x\",\"https://api.example\"],\"exp\":1700003600}",
               NULL);
    claims_are("{\"iss\":\"" ISS "\",\"aud\":[1,\"https://api.example\"],\"exp\":1700003600}",
               "audience mismatch");
    claims_are("{\"iss\":\"" ISS "\",\"aud\":[[\"https://api.example\"]],\"exp\":1700003600}",
               "audience mismatch");
    claims_are("{\"iss\":\"" ISS "\",\"aud\":\"https://api.example,x\",\"exp\":1700003600}",
               "audience mismatch");
}
END_TEST

Suite *agw_suite_hostile(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("corpus");

    tcase_add_unchecked_fixture(tc, tk_keys_setup, tk_keys_teardown);
    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, alg_none_in_every_casing);
    tcase_add_test(tc, alg_malformed);
    tcase_add_test(tc, alg_not_allowed);
    tcase_add_test(tc, hs256_keyed_with_rsa_public_key);
    tcase_add_test(tc, rs256_against_shared_secret);
    tcase_add_test(tc, hs_secret_hostile);
    tcase_add_test(tc, empty_and_truncated_signatures);
    tcase_add_test(tc, ecdsa_degenerate_scalars);
    tcase_add_test(tc, ecdsa_zero_on_every_curve);
    tcase_add_test(tc, ecdsa_der_instead_of_raw);
    tcase_add_test(tc, wrong_segment_counts);
    tcase_add_test(tc, illegal_characters_in_each_segment);
    tcase_add_test(tc, noncanonical_trailing_bits);
    tcase_add_test(tc, duplicate_members);
    tcase_add_test(tc, nesting_depth);
    tcase_add_test(tc, token_size_limit);
    tcase_add_test(tc, crit_refused);
    tcase_add_test(tc, header_member_types);
    tcase_add_test(tc, header_and_payload_not_objects);
    tcase_add_test(tc, key_type_alg_mismatch);
    tcase_add_test(tc, jwk_alg_differs_from_token_alg);
    tcase_add_test(tc, jwk_use_enc_and_key_ops);
    tcase_add_test(tc, kid_pointing_to_no_key);
    tcase_add_test(tc, kid_selects_only_its_keys);
    tcase_add_test(tc, x5t_mismatch);
    tcase_add_test(tc, header_embedded_keys_ignored);
    tcase_add_test(tc, rsa_weak_keys_refused);
    tcase_add_test(tc, ec_bad_points_refused);
    tcase_add_test(tc, okp_bad_keys_refused);
    tcase_add_test(tc, jwks_documents_hostile);
    tcase_add_test(tc, claims_time_and_shape);
    tcase_add_test(tc, claims_issuer_and_audience);
    suite_add_tcase(s, tc);
    return s;
}
