/* Published JOSE test vectors (RFC 7515 A.1-A.4, RFC 7520 4.1-4.4, RFC 8037 A.4/A.5) verified byte for byte through the core. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "agw_b64.h"
#include "agw_crypt.h"
#include "agw_json.h"
#include "agw_jwk.h"
#include "agw_jws.h"
#include "agw_jwt.h"

/* ---- the documents' keys, exactly as published (private members included where the
 * document gives them: a verifier must ignore them) ------------------------------------- */

/* RFC 7515 A.1.1 */
#define RFC7515_A1_JWK \
    "{\"kty\":\"oct\",\r\n" \
    " \"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAz" \
    "Zr1Z9CAow\"\r\n" \
    "}"

/* RFC 7515 A.2.1 */
#define RFC7515_A2_JWK \
    "{\"kty\":\"RSA\",\n" \
    " \"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx" \
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs" \
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH" \
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV" \
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8" \
    "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\",\n" \
    " \"e\":\"AQAB\",\n" \
    " \"d\":\"Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97I" \
    "jlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0" \
    "BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn" \
    "439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYT" \
    "CBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLh" \
    "BOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ\",\n" \
    " \"p\":\"4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdi" \
    "YrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPG" \
    "BY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc\",\n" \
    " \"q\":\"uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxa" \
    "ewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA" \
    "-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc\",\n" \
    " \"dp\":\"BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3Q" \
    "CLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb" \
    "34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0\",\n" \
    " \"dq\":\"h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa" \
    "7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-ky" \
    "NlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU\",\n" \
    " \"qi\":\"IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2o" \
    "y26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLU" \
    "W0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U\"\n" \
    "}"

/* RFC 7515 A.3.1 */
#define RFC7515_A3_JWK \
    "{\"kty\":\"EC\",\n" \
    " \"crv\":\"P-256\",\n" \
    " \"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\n" \
    " \"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\",\n" \
    " \"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"\n" \
    "}"

/* RFC 7515 A.4.1 */
#define RFC7515_A4_JWK \
    "{\"kty\":\"EC\",\n" \
    " \"crv\":\"P-521\",\n" \
    " \"x\":\"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_" \
    "NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk\",\n" \
    " \"y\":\"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDl" \
    "y79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2\",\n" \
    " \"d\":\"AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPA" \
    "xerEzgdRhajnu0ferB0d53vM9mE15j2C\"\n" \
    "}"

/* RFC 7520 3.1, Figure 1: Elliptic Curve P-521 Public Key */
#define RFC7520_EC_PUB_JWK \
    "{\n" \
    "  \"kty\": \"EC\",\n" \
    "  \"kid\": \"bilbo.baggins@hobbiton.example\",\n" \
    "  \"use\": \"sig\",\n" \
    "  \"crv\": \"P-521\",\n" \
    "  \"x\": \"AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9" \
    "A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt\",\n" \
    "  \"y\": \"AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVy" \
    "SsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1\"\n" \
    "}"

/* RFC 7520 3.3, Figure 3: RSA 2048-Bit Public Key */
#define RFC7520_RSA_PUB_JWK \
    "{\n" \
    "  \"kty\": \"RSA\",\n" \
    "  \"kid\": \"bilbo.baggins@hobbiton.example\",\n" \
    "  \"use\": \"sig\",\n" \
    "  \"n\": \"n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT" \
    "-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqV" \
    "wGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-" \
    "oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde" \
    "3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuC" \
    "LqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5g" \
    "HdrNP5zw\",\n" \
    "  \"e\": \"AQAB\"\n" \
    "}"

/* RFC 7520 3.5, Figure 5: AES 256-Bit Symmetric Signing Key */
#define RFC7520_HMAC_JWK \
    "{\n" \
    "  \"kty\": \"oct\",\n" \
    "  \"kid\": \"018c0ae5-4d9b-471b-bfd6-eef314bc7037\",\n" \
    "  \"use\": \"sig\",\n" \
    "  \"alg\": \"HS256\",\n" \
    "  \"k\": \"hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg\"\n" \
    "}"

/* RFC 8037 A.1 (private) and A.2 (public) */
#define RFC8037_A1_JWK \
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\n" \
    "   \"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\",\n" \
    "   \"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"
#define RFC8037_A2_JWK \
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\n" \
    "   \"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"

/* ---- the documents' signatures --------------------------------------------------------- */

#define A_PAYLOAD_B64 \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt" \
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define A_PAYLOAD_TEXT \
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"

#define RFC7520_PAYLOAD_B64 \
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH" \
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk" \
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm" \
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"
#define RFC7520_PAYLOAD_TEXT \
    "It\xe2\x80\x99s a dangerous business, Frodo, going out your " \
    "door. You step onto the road, and if you don't keep your feet, " \
    "there\xe2\x80\x99s no knowing where you might be swept off " \
    "to."

typedef struct {
    const char *name;
    const char *jwk;
    const char *token;
    agw_alg_e alg;
    const char *header_text;  /* the decoded protected header, exactly */
    const char *payload_text; /* the decoded payload, exactly */
    int payload_is_object;    /* else agw_jws_decode must refuse it */
    const char *kid;          /* the header's kid */
    agw_kty_e kty;
    int bits;
    const char *crv;
} vector_t;

static const vector_t vectors[] = {
    { "RFC 7515 A.1 HS256", RFC7515_A1_JWK,
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." A_PAYLOAD_B64 "."
      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
      AGW_ALG_HS256, "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}", A_PAYLOAD_TEXT, 1, NULL,
      AGW_KTY_OCT, 512, NULL },
    { "RFC 7515 A.2 RS256", RFC7515_A2_JWK,
      "eyJhbGciOiJSUzI1NiJ9." A_PAYLOAD_B64 "."
      "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
      "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
      "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
      "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
      "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
      "p0igcN_IoypGlUPQGe77Rw",
      AGW_ALG_RS256, "{\"alg\":\"RS256\"}", A_PAYLOAD_TEXT, 1, NULL,
      AGW_KTY_RSA, 2048, NULL },
    { "RFC 7515 A.3 ES256", RFC7515_A3_JWK,
      "eyJhbGciOiJFUzI1NiJ9." A_PAYLOAD_B64 "."
      "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
      "pmWQxfKTUJqPP3-Kg6NU1Q",
      AGW_ALG_ES256, "{\"alg\":\"ES256\"}", A_PAYLOAD_TEXT, 1, NULL,
      AGW_KTY_EC, 256, "P-256" },
    { "RFC 7515 A.4 ES512", RFC7515_A4_JWK,
      "eyJhbGciOiJFUzUxMiJ9."
      "UGF5bG9hZA."
      "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZq"
      "wqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8Kp"
      "EHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn",
      AGW_ALG_ES512, "{\"alg\":\"ES512\"}", "Payload", 0, NULL,
      AGW_KTY_EC, 521, "P-521" },
    { "RFC 7520 4.1 RS256", RFC7520_RSA_PUB_JWK,
      "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX"
      "hhbXBsZSJ9." RFC7520_PAYLOAD_B64 "."
      "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmK"
      "ZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4J"
      "IwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8w"
      "W1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluP"
      "xUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_f"
      "cIe8u9ipH84ogoree7vjbU5y18kDquDg",
      AGW_ALG_RS256, "{\"alg\":\"RS256\",\"kid\":\"bilbo.baggins@hobbiton.example\"}",
      RFC7520_PAYLOAD_TEXT, 0, "bilbo.baggins@hobbiton.example",
      AGW_KTY_RSA, 2048, NULL },
    /* PSS is randomized: the document's signature can only be verified, not reproduced. */
    { "RFC 7520 4.2 PS384", RFC7520_RSA_PUB_JWK,
      "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX"
      "hhbXBsZSJ9." RFC7520_PAYLOAD_B64 "."
      "cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2I"
      "pN6-tPid6VrklHkqsGqDqHCdP6O8TTB5dDDItllVo6_1OLPpcbUrhiUSMxbbXU"
      "vdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrYRX"
      "e8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT"
      "0qI0n6uiP1aCN_2_jLAeQTlqRHtfa64QQSUmFAAjVKPbByi7xho0uTOcbH510a"
      "6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw",
      AGW_ALG_PS384, "{\"alg\":\"PS384\",\"kid\":\"bilbo.baggins@hobbiton.example\"}",
      RFC7520_PAYLOAD_TEXT, 0, "bilbo.baggins@hobbiton.example",
      AGW_KTY_RSA, 2048, NULL },
    { "RFC 7520 4.3 ES512", RFC7520_EC_PUB_JWK,
      "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX"
      "hhbXBsZSJ9." RFC7520_PAYLOAD_B64 "."
      "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvb"
      "u9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kv"
      "AD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2",
      AGW_ALG_ES512, "{\"alg\":\"ES512\",\"kid\":\"bilbo.baggins@hobbiton.example\"}",
      RFC7520_PAYLOAD_TEXT, 0, "bilbo.baggins@hobbiton.example",
      AGW_KTY_EC, 521, "P-521" },
    { "RFC 7520 4.4 HS256", RFC7520_HMAC_JWK,
      "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LW"
      "VlZjMxNGJjNzAzNyJ9." RFC7520_PAYLOAD_B64 "."
      "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0",
      AGW_ALG_HS256, "{\"alg\":\"HS256\",\"kid\":\"018c0ae5-4d9b-471b-bfd6-eef314bc7037\"}",
      RFC7520_PAYLOAD_TEXT, 0, "018c0ae5-4d9b-471b-bfd6-eef314bc7037",
      AGW_KTY_OCT, 256, NULL },
    { "RFC 8037 A.4/A.5 Ed25519", RFC8037_A2_JWK,
      "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
      "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg",
      AGW_ALG_EDDSA, "{\"alg\":\"EdDSA\"}", "Example of Ed25519 signing", 0, NULL,
      AGW_KTY_OKP, 256, "Ed25519" },
};
#define NVECTORS ((int)(sizeof(vectors) / sizeof(vectors[0])))

/* ---- helpers ----------------------------------------------------------------------------- */

static agw_jwk_t *jwk_of(const char *text)
{
    json_t *j = NULL;
    agw_jwk_t *jwk = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, text, strlen(text), 0, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(agw_jwk_parse(&jwk, agw_test_pool, j, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(jwk);
    return jwk;
}

/* A published set holding the key; never for oct keys, which a key set must not carry. */
static agw_jwks_t *jwks_of(const char *jwk_text)
{
    const char *doc = apr_pstrcat(agw_test_pool, "{\"keys\":[", jwk_text, "]}", NULL);
    agw_jwks_t *jwks = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_jwks_parse(&jwks, agw_test_pool, doc, strlen(doc), &err),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(jwks);
    ck_assert_int_eq(jwks->keys->nelts, 1);
    ck_assert_int_eq(jwks->skipped->nelts, 0);
    return jwks;
}

/* The verification set for a vector: a shared secret comes from the administrator
 * (agw_jwks_from_secret), every other key from a published set. */
static agw_jwks_t *keys_for(const vector_t *v)
{
    if (v->kty == AGW_KTY_OCT) {
        agw_jwk_t *jwk = jwk_of(v->jwk);
        return agw_jwks_from_secret(agw_test_pool, jwk->secret, jwk->secret_len);
    }
    return jwks_of(v->jwk);
}

/* The signing input and the signature bytes of a compact token, split by hand. */
static void split(const char *token, const char **psi, apr_size_t *psilen,
                  unsigned char **psig, apr_size_t *psiglen)
{
    const char *dot2 = strrchr(token, '.');

    ck_assert_ptr_nonnull(dot2);
    *psi = token;
    *psilen = (apr_size_t)(dot2 - token);
    ck_assert_int_eq(agw_b64url_decode(psig, psiglen, agw_test_pool, dot2 + 1,
                                       strlen(dot2 + 1)), APR_SUCCESS);
}

static char *decode_segment(const char *token, int index)
{
    const char *s = token, *e;
    unsigned char *out = NULL;
    apr_size_t outlen = 0;

    while (index-- > 0)
        s = strchr(s, '.') + 1;
    e = strchr(s, '.');
    if (!e)
        e = s + strlen(s);
    ck_assert_int_eq(agw_b64url_decode(&out, &outlen, agw_test_pool, s, (apr_size_t)(e - s)),
                     APR_SUCCESS);
    ck_assert_uint_eq(strlen((char *)out), outlen);
    return (char *)out;
}

/* For payloads that are not JSON objects agw_jws_decode (rightly) refuses the token, so the
 * decoded form is built by hand to still put agw_jws_verify's key selection to work. */
static agw_jws_t *jws_by_hand(const vector_t *v)
{
    agw_jws_t *jws = apr_pcalloc(agw_test_pool, sizeof(*jws));
    const char *hdr = decode_segment(v->token, 0);
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_json_parse(&jws->header, agw_test_pool, hdr, strlen(hdr), 0, &err),
                     APR_SUCCESS);
    jws->payload = agw_json_own(agw_test_pool, json_object());
    jws->alg = v->alg;
    jws->kid = v->kid;
    split(v->token, &jws->signing_input, &jws->signing_input_len, &jws->sig, &jws->sig_len);
    return jws;
}

static agw_jws_t *decode_ok(const char *token)
{
    agw_jws_t *jws = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv = agw_jws_decode(&jws, agw_test_pool, token, strlen(token), 0, &err);

    ck_assert_msg(rv == APR_SUCCESS, "decode: %s", err.reason ? err.reason : "(no reason)");
    ck_assert_ptr_nonnull(jws);
    return jws;
}

/* ---- every vector: the key, the header, the signature ---------------------------------- */

START_TEST(vector_jwk_parses_as_documented)
{
    const vector_t *v = &vectors[_i];
    agw_jwk_t *jwk = jwk_of(v->jwk);

    ck_assert_int_eq(jwk->kty, v->kty);
    ck_assert_int_eq(jwk->bits, v->bits);
    if (v->crv)
        ck_assert_str_eq(jwk->crv, v->crv);
    else
        ck_assert_ptr_null(jwk->crv);
    if (v->kty == AGW_KTY_OCT) {
        ck_assert_ptr_nonnull(jwk->secret);
        ck_assert_uint_eq(jwk->secret_len, (apr_size_t)v->bits / 8);
        ck_assert_ptr_null(jwk->pkey);
    }
    else {
        ck_assert_ptr_nonnull(jwk->pkey);
        ck_assert_int_eq(agw_pkey_kty(jwk->pkey), v->kty);
        ck_assert_int_eq(agw_pkey_bits(jwk->pkey), v->bits);
    }
    if (v->kid)
        ck_assert_str_eq(jwk->kid, v->kid);
    else
        ck_assert_ptr_null(jwk->kid);
    /* Only RFC 7520's symmetric key carries "alg". */
    ck_assert_int_eq(jwk->alg, v->kty == AGW_KTY_OCT && v->kid ? AGW_ALG_HS256 : AGW_ALG_NONE);
}
END_TEST

START_TEST(vector_segments_decode_byte_for_byte)
{
    const vector_t *v = &vectors[_i];

    ck_assert_str_eq(decode_segment(v->token, 0), v->header_text);
    ck_assert_str_eq(decode_segment(v->token, 1), v->payload_text);
    ck_assert_int_eq(agw_alg_from_name(agw_alg_name(v->alg), (apr_size_t)-1), v->alg);
}
END_TEST

START_TEST(vector_signature_verifies)
{
    const vector_t *v = &vectors[_i];
    agw_jwks_t *jwks = keys_for(v);
    const agw_jwk_t *key = APR_ARRAY_IDX(jwks->keys, 0, const agw_jwk_t *);
    agw_err_t err = { 0 };
    agw_jws_t *jws;
    const char *si;
    apr_size_t silen, siglen;
    unsigned char *sig;
    apr_status_t rv;

    /* The bare primitive over the exact signing input. */
    split(v->token, &si, &silen, &sig, &siglen);
    rv = agw_crypt_verify(v->alg, key->pkey, key->secret, key->secret_len,
                          (const unsigned char *)si, silen, sig, siglen, &err);
    ck_assert_msg(rv == APR_SUCCESS, "%s: crypt_verify: %s", v->name, err.reason);

    if (v->payload_is_object) {
        jws = decode_ok(v->token);
        ck_assert_int_eq(jws->alg, v->alg);
        ck_assert_uint_eq(jws->signing_input_len, silen);
        ck_assert_int_eq(memcmp(jws->signing_input, si, silen), 0);
        ck_assert_uint_eq(jws->sig_len, siglen);
        ck_assert_int_eq(memcmp(jws->sig, sig, siglen), 0);
    }
    else {
        jws = jws_by_hand(v);
    }
    rv = agw_jws_verify(jws, jwks, AGW_ALG_BIT(v->alg), &err);
    ck_assert_msg(rv == APR_SUCCESS, "%s: jws_verify: %s", v->name, err.reason);
    ck_assert_ptr_eq(jws->key, key);
}
END_TEST

/* The same vector with one signature byte changed must fail, through the full path. */
START_TEST(vector_tampered_signature_fails)
{
    const vector_t *v = &vectors[_i];
    agw_jwks_t *jwks = keys_for(v);
    agw_err_t err = { 0 };
    agw_jws_t *jws;
    apr_status_t rv;

    if (v->payload_is_object) {
        /* The first character of the signature segment: lowering it keeps the base64url
         * canonical and an ECDSA r below the group order, so only the math can refuse it. */
        char *t = apr_pstrdup(agw_test_pool, v->token);
        char *s = strrchr(t, '.') + 1;
        *s = *s == 'A' ? 'B' : 'A';
        jws = decode_ok(t);
    }
    else {
        jws = jws_by_hand(v);
        jws->sig[jws->sig_len / 2] ^= 0x01;
    }
    rv = agw_jws_verify(jws, jwks, AGW_ALG_BIT(v->alg), &err);
    ck_assert_int_eq(rv, APR_EINVAL);
    ck_assert_str_eq(err.code, AGW_E_INVALID_TOKEN);
    ck_assert_str_eq(err.reason, "signature invalid");
    ck_assert_ptr_null(jws->key);
}
END_TEST

/* One byte of the signing input changed (first, middle and last byte) must fail. */
START_TEST(vector_tampered_input_fails)
{
    const vector_t *v = &vectors[_i];
    agw_jwk_t *key = jwk_of(v->jwk);
    const char *si;
    apr_size_t silen, siglen, pos[3];
    unsigned char *sig, *data;
    int k;

    split(v->token, &si, &silen, &sig, &siglen);
    pos[0] = 0;
    pos[1] = silen / 2;
    pos[2] = silen - 1;
    for (k = 0; k < 3; k++) {
        agw_err_t err = { 0 };
        data = apr_pmemdup(agw_test_pool, si, silen);
        data[pos[k]] ^= 0x20;
        ck_assert_int_eq(agw_crypt_verify(v->alg, key->pkey, key->secret, key->secret_len,
                                          data, silen, sig, siglen, &err), APR_EINVAL);
        ck_assert_str_eq(err.reason, "signature invalid");
    }
    /* And the signing input one byte shorter. */
    {
        agw_err_t err = { 0 };
        ck_assert_int_eq(agw_crypt_verify(v->alg, key->pkey, key->secret, key->secret_len,
                                          (const unsigned char *)si, silen - 1, sig, siglen,
                                          &err), APR_EINVAL);
        ck_assert_str_eq(err.reason, "signature invalid");
    }
}
END_TEST

/* Our tokens are JWTs: a payload that is not a JSON object is refused at decode. */
START_TEST(vector_non_object_payload_refused)
{
    const vector_t *v = &vectors[_i];
    agw_jws_t *jws = NULL;
    agw_err_t err = { 0 };

    if (v->payload_is_object)
        return;
    ck_assert_int_eq(agw_jws_decode(&jws, agw_test_pool, v->token, strlen(v->token), 0, &err),
                     APR_EINVAL);
    ck_assert_str_eq(err.code, AGW_E_INVALID_TOKEN);
    ck_assert_str_eq(err.reason, "payload JSON: syntax error");
}
END_TEST

/* ---- specific checks -------------------------------------------------------------------- */

START_TEST(rfc7515_a_claims_and_header)
{
    int i;

    for (i = 0; i < 3; i++) {
        const vector_t *v = &vectors[i];
        agw_jws_t *jws = decode_ok(v->token);
        agw_err_t err = { 0 };

        ck_assert_ptr_null(jws->kid);
        ck_assert_ptr_null(jws->x5t);
        if (i == 0)
            ck_assert_str_eq(jws->typ, "JWT");
        else
            ck_assert_ptr_null(jws->typ);
        ck_assert_str_eq(agw_json_str(jws->header, "alg"), agw_alg_name(v->alg));
        ck_assert_str_eq(agw_json_str(jws->payload, "iss"), "joe");
        ck_assert_int_eq(json_integer_value(json_object_get(jws->payload, "exp")), 1300819380);
        ck_assert(json_is_true(json_object_get(jws->payload, "http://example.com/is_root")));
        ck_assert_int_eq(json_object_size(jws->payload), 3);

        /* exp 1300819380: valid the second before, expired at it (no leeway). */
        ck_assert_int_eq(agw_jwt_check_claims(jws->payload, "joe", NULL, 1300819379, 0, &err),
                         APR_SUCCESS);
        ck_assert_int_eq(agw_jwt_check_claims(jws->payload, "joe", NULL, 1300819380, 0, &err),
                         APR_EINVAL);
        ck_assert_str_eq(err.reason, "token expired");
        ck_assert_int_eq(agw_jwt_check_claims(jws->payload, "joe", NULL, 1300819409, 30, &err),
                         APR_SUCCESS);
        ck_assert_int_eq(agw_jwt_check_claims(jws->payload, "jo", NULL, 1300819000, 0, &err),
                         APR_EINVAL);
        ck_assert_str_eq(err.reason, "issuer mismatch");
    }
}
END_TEST

/* A.1's HMAC key verifies nothing but HS*: not A.2's RS256 or A.3's ES256 token, and A.1
 * itself is refused when the allow-list does not name HS256. */
START_TEST(rfc7515_a1_key_is_hmac_only)
{
    agw_jwks_t *oct = keys_for(&vectors[0]);
    agw_jwks_t *rsa = keys_for(&vectors[1]);
    agw_jws_t *a1 = decode_ok(vectors[0].token);
    agw_jws_t *a2 = decode_ok(vectors[1].token);
    agw_jws_t *a3 = decode_ok(vectors[2].token);
    const agw_jwk_t *k = APR_ARRAY_IDX(oct->keys, 0, const agw_jwk_t *);
    const agw_jwk_t *rk = APR_ARRAY_IDX(rsa->keys, 0, const agw_jwk_t *);
    agw_alg_set_t all = 0;
    agw_err_t err = { 0 };
    int a;

    for (a = AGW_ALG_RS256; a < AGW_ALG_COUNT; a++)
        all |= AGW_ALG_BIT(a);

    ck_assert_int_eq(agw_jws_verify(a2, oct, all, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "key type does not match alg");
    ck_assert_ptr_null(a2->key);
    ck_assert_int_eq(agw_jws_verify(a3, oct, all, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "key type does not match alg");

    /* The RSA key must never be used as an HMAC secret. */
    ck_assert_int_eq(agw_jws_verify(a1, rsa, all, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "key type does not match alg");
    ck_assert_ptr_null(a1->key);

    /* HS256 with the key, but the allow-list is RS256 only. */
    ck_assert_int_eq(agw_jws_verify(a1, oct, AGW_ALG_BIT(AGW_ALG_RS256), &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "alg not allowed");
    ck_assert_ptr_null(a1->key);

    /* The primitive itself: an HMAC secret for RS256, an RSA key for HS256. */
    ck_assert_int_eq(agw_crypt_verify(AGW_ALG_RS256, NULL, k->secret, k->secret_len,
                                      (const unsigned char *)a2->signing_input,
                                      a2->signing_input_len, a2->sig, a2->sig_len, &err),
                     APR_EINVAL);
    ck_assert_str_eq(err.reason, "key type does not match alg");
    ck_assert_int_eq(agw_crypt_verify(AGW_ALG_HS256, rk->pkey, NULL, 0,
                                      (const unsigned char *)a1->signing_input,
                                      a1->signing_input_len, a1->sig, a1->sig_len, &err),
                     APR_EINVAL);
    ck_assert_str_eq(err.reason, "key type does not match alg");
    /* Both at once is no better: HMAC never takes a public key. */
    ck_assert_int_eq(agw_crypt_verify(AGW_ALG_HS256, rk->pkey, k->secret, k->secret_len,
                                      (const unsigned char *)a1->signing_input,
                                      a1->signing_input_len, a1->sig, a1->sig_len, &err),
                     APR_EINVAL);
    ck_assert_str_eq(err.reason, "key type does not match alg");
    /* HS512 with the same 64-byte key is a different algorithm: the A.1 MAC fails it. */
    ck_assert_int_eq(agw_crypt_verify(AGW_ALG_HS512, NULL, k->secret, k->secret_len,
                                      (const unsigned char *)a1->signing_input,
                                      a1->signing_input_len, a1->sig, a1->sig_len, &err),
                     APR_EINVAL);
    ck_assert_str_eq(err.reason, "signature invalid");
}
END_TEST

/* A published key set never hands out a shared secret: A.1's and RFC 7520's oct keys are
 * skipped with a reason, and A.1's token then finds no key. */
START_TEST(oct_keys_skipped_in_published_set)
{
    const char *doc = "{\"keys\":[" RFC7515_A1_JWK "," RFC7520_HMAC_JWK "]}";
    agw_jwks_t *jwks = NULL;
    agw_jws_t *a1 = decode_ok(vectors[0].token);
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_jwks_parse(&jwks, agw_test_pool, doc, strlen(doc), &err), APR_SUCCESS);
    ck_assert_int_eq(jwks->keys->nelts, 0);
    ck_assert_int_eq(jwks->skipped->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(jwks->skipped, 0, const char *),
                     "key #1: symmetric key in a key set");
    ck_assert_str_eq(APR_ARRAY_IDX(jwks->skipped, 1, const char *),
                     "key #2 (kid 018c0ae5-4d9b-471b-bfd6-eef314bc7037): symmetric key in a key set");
    ck_assert_int_eq(agw_jws_verify(a1, jwks, AGW_ALG_BIT(AGW_ALG_HS256), &err), APR_NOTFOUND);
    ck_assert_str_eq(err.reason, "unknown key");
}
END_TEST

/* The wrong document key for a vector: same type, other key. */
START_TEST(vector_wrong_key_fails)
{
    agw_jwks_t *rsa7520 = jwks_of(RFC7520_RSA_PUB_JWK);
    agw_jwks_t *ec7515 = jwks_of(RFC7515_A4_JWK);
    agw_jws_t *a2 = decode_ok(vectors[1].token);
    agw_jws_t *e43 = jws_by_hand(&vectors[6]);
    agw_err_t err = { 0 };

    /* A.2 has no kid, so RFC 7520's RSA key is a candidate, and the math refuses it. */
    ck_assert_int_eq(agw_jws_verify(a2, rsa7520, AGW_ALG_BIT(AGW_ALG_RS256), &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "signature invalid");
    /* 4.3 names kid bilbo...; no key has it, so the kid-less A.4 key is tried and fails. */
    ck_assert_int_eq(agw_jws_verify(e43, ec7515, AGW_ALG_BIT(AGW_ALG_ES512), &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "signature invalid");
    /* With a kid of its own, A.4's key is not a candidate: the set may be stale. */
    ec7515 = jwks_of(apr_pstrcat(agw_test_pool, "{\"kid\":\"other\",", (RFC7515_A4_JWK) + 1,
                                 NULL));
    ck_assert_int_eq(agw_jws_verify(e43, ec7515, AGW_ALG_BIT(AGW_ALG_ES512), &err),
                     APR_NOTFOUND);
    ck_assert_str_eq(err.reason, "unknown key");
}
END_TEST

/* RFC 7520's one kid names an RSA and an EC key: the alg picks the right one. */
START_TEST(rfc7520_shared_kid_picks_by_alg)
{
    const char *doc = "{\"keys\":[" RFC7520_RSA_PUB_JWK "," RFC7520_EC_PUB_JWK "]}";
    agw_jwks_t *jwks = NULL;
    agw_err_t err = { 0 };
    int i;

    ck_assert_int_eq(agw_jwks_parse(&jwks, agw_test_pool, doc, strlen(doc), &err), APR_SUCCESS);
    ck_assert_int_eq(jwks->keys->nelts, 2);
    for (i = 4; i <= 6; i++) {
        agw_jws_t *jws = jws_by_hand(&vectors[i]);
        apr_status_t rv = agw_jws_verify(jws, jwks, AGW_ALG_BIT(vectors[i].alg), &err);

        ck_assert_msg(rv == APR_SUCCESS, "%s: %s", vectors[i].name, err.reason);
        ck_assert_ptr_eq(jws->key, APR_ARRAY_IDX(jwks->keys, i == 6 ? 1 : 0,
                                                  const agw_jwk_t *));
    }
}
END_TEST

/* RFC 8037 A.1 (with the private "d") and A.2 are the same verification key. */
START_TEST(rfc8037_private_members_ignored)
{
    agw_jwk_t *a1 = jwk_of(RFC8037_A1_JWK);
    agw_jwk_t *a2 = jwk_of(RFC8037_A2_JWK);
    const vector_t *v = &vectors[8];
    const char *si;
    apr_size_t silen, siglen;
    unsigned char *sig;
    agw_err_t err = { 0 };

    ck_assert_int_eq(a1->kty, AGW_KTY_OKP);
    ck_assert_str_eq(a1->crv, "Ed25519");
    ck_assert_str_eq(a2->crv, "Ed25519");
    split(v->token, &si, &silen, &sig, &siglen);
    ck_assert_uint_eq(siglen, 64);
    ck_assert_int_eq(agw_crypt_verify(AGW_ALG_EDDSA, a1->pkey, NULL, 0,
                                      (const unsigned char *)si, silen, sig, siglen, &err),
                     APR_SUCCESS);
    /* Ed25519 signatures are exactly 64 bytes. */
    ck_assert_int_eq(agw_crypt_verify(AGW_ALG_EDDSA, a2->pkey, NULL, 0,
                                      (const unsigned char *)si, silen, sig, 63, &err),
                     APR_EINVAL);
}
END_TEST

Suite *agw_suite_vectors(void)
{
    Suite *s = suite_create("vectors");
    TCase *tc = tcase_create("published");

    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_loop_test(tc, vector_jwk_parses_as_documented, 0, NVECTORS);
    tcase_add_loop_test(tc, vector_segments_decode_byte_for_byte, 0, NVECTORS);
    tcase_add_loop_test(tc, vector_signature_verifies, 0, NVECTORS);
    tcase_add_loop_test(tc, vector_tampered_signature_fails, 0, NVECTORS);
    tcase_add_loop_test(tc, vector_tampered_input_fails, 0, NVECTORS);
    tcase_add_loop_test(tc, vector_non_object_payload_refused, 0, NVECTORS);
    tcase_add_test(tc, rfc7515_a_claims_and_header);
    tcase_add_test(tc, rfc7515_a1_key_is_hmac_only);
    tcase_add_test(tc, oct_keys_skipped_in_published_set);
    tcase_add_test(tc, vector_wrong_key_fails);
    tcase_add_test(tc, rfc7520_shared_kid_picks_by_alg);
    tcase_add_test(tc, rfc8037_private_members_ignored);
    suite_add_tcase(s, tc);
    return s;
}
