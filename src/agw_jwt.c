/* JWT claims: registered-claim validation with time as a parameter, claim paths, scope/role/value matching. */
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include "agw_json.h"
#include "agw_hot.h"
#include "agw_jwt.h"

/* ---- registered claims ------------------------------------------------------------- */

/* A time claim is accepted as an integer or a real (RFC 7519 NumericDate allows both). */
typedef struct {
    int is_int;
    json_int_t i;
    double d;
} agw_numeric_t;

enum { NUMERIC_OK, NUMERIC_NOT_NUMBER, NUMERIC_OUT_OF_RANGE };

/* A time claim within 0..AGW_JWT_TIME_MAX, so that no later cast or sum can overflow. */
static int numeric_get(agw_numeric_t *out, const json_t *v)
{
    if (json_is_integer(v)) {
        out->is_int = 1;
        out->i = json_integer_value(v);
        out->d = (double)out->i;
        return (out->i < 0 || out->i > AGW_JWT_TIME_MAX) ? NUMERIC_OUT_OF_RANGE : NUMERIC_OK;
    }
    if (json_is_real(v)) {
        out->is_int = 0;
        out->d = json_real_value(v);
        /* written so that NaN fails too */
        if (!(out->d >= 0.0 && out->d <= (double)AGW_JWT_TIME_MAX))
            return NUMERIC_OUT_OF_RANGE;
        return NUMERIC_OK;
    }
    return NUMERIC_NOT_NUMBER;
}

apr_status_t agw_jwt_time(apr_int64_t *out, const json_t *v)
{
    agw_numeric_t n;

    if (numeric_get(&n, v) != NUMERIC_OK)
        return APR_EINVAL;
    *out = n.is_int ? (apr_int64_t)n.i : (apr_int64_t)n.d;
    return APR_SUCCESS;
}

/* The outcome of numeric_get as a claim's reason, NULL when it is usable. */
static const char *numeric_why(int rc, const char *not_number, const char *invalid)
{
    return rc == NUMERIC_OK ? NULL : rc == NUMERIC_NOT_NUMBER ? not_number : invalid;
}

/* 1 when t > limit: exact for integers (no overflow on huge values), in doubles for reals. */
static int numeric_gt(const agw_numeric_t *t, apr_int64_t limit)
{
    if (t->is_int)
        return (apr_int64_t)t->i > limit;
    return t->d > (double)limit;
}

static int json_str_eq(const json_t *v, const char *want)
{
    size_t wlen = strlen(want);
    /* Length first so a string with an embedded NUL never equals its prefix. */
    return json_is_string(v) && json_string_length(v) == wlen
           && memcmp(json_string_value(v), want, wlen) == 0;
}

static int audience_ok(const json_t *aud, const apr_array_header_t *audiences)
{
    size_t i;
    int j;

    if (json_is_string(aud)) {
        for (j = 0; j < audiences->nelts; j++)
            if (json_str_eq(aud, APR_ARRAY_IDX(audiences, j, const char *)))
                return 1;
        return 0;
    }
    if (!json_is_array(aud))
        return 0;
    /* RFC 7519 says an array of strings; anything else in it makes the claim malformed. */
    for (i = 0; i < json_array_size(aud); i++)
        if (!json_is_string(json_array_get(aud, i)))
            return 0;
    for (i = 0; i < json_array_size(aud); i++)
        for (j = 0; j < audiences->nelts; j++)
            if (json_str_eq(json_array_get(aud, i), APR_ARRAY_IDX(audiences, j, const char *)))
                return 1;
    return 0;
}

/* The time claims as the checks read them. */
typedef struct times_t {
    agw_numeric_t exp, nbf, iat;
    int has_nbf, has_iat;
} times_t;

/* iss, aud, then the times: one rule for a claims object and for a brief. */
AGW_HOT static apr_status_t check_registered(const times_t *t, int iss_ok, int aud_ok, apr_int64_t now,
                                     apr_int64_t leeway, agw_err_t *err)
{
    /* Config bounds leeway far below this; the clamp only keeps now +- leeway from overflowing. */
    if (leeway < 0)
        leeway = 0;
    if (leeway > APR_INT64_C(0x7fffffff))
        leeway = APR_INT64_C(0x7fffffff);
    if (!iss_ok)
        return agw_err_refuse(err, AGW_R_ISSUER, "issuer mismatch");
    if (!aud_ok)
        return agw_err_refuse(err, AGW_R_AUDIENCE, "audience mismatch");
    /* Valid while now < exp + leeway, i.e. exp > now - leeway (no overflow on huge exp). */
    if (!numeric_gt(&t->exp, now - leeway))
        return agw_err_refuse(err, AGW_R_EXPIRED, "token expired");
    /* nbf and iat must be <= now + leeway. */
    if (t->has_nbf && numeric_gt(&t->nbf, now + leeway))
        return agw_err_refuse(err, AGW_R_NOT_YET_VALID, "token not yet valid");
    if (t->has_iat && numeric_gt(&t->iat, now + leeway))
        return agw_err_refuse(err, AGW_R_NOT_YET_VALID, "iat in the future");
    return APR_SUCCESS;
}

apr_status_t agw_jwt_check_claims(const json_t *claims, const char *issuer,
                                  const apr_array_header_t *audiences,
                                  apr_int64_t now, apr_int64_t leeway, agw_err_t *err)
{
    times_t t;
    const json_t *v;
    const char *why;

    memset(&t, 0, sizeof(t));
    if (!json_is_object(claims))
        return agw_err_refuse(err, AGW_R_MALFORMED, "claims not an object");

    /* Shape first, so a malformed token is reported as malformed, not as expired. */
    v = json_object_get(claims, "exp");
    if (!v)
        return agw_err_refuse(err, AGW_R_CLAIM, "exp missing");
    if ((why = numeric_why(numeric_get(&t.exp, v), "exp not a number", "exp invalid")))
        return agw_err_refuse(err, AGW_R_CLAIM, why);
    if ((v = json_object_get(claims, "nbf")) != NULL) {
        if ((why = numeric_why(numeric_get(&t.nbf, v), "nbf not a number", "nbf invalid")))
            return agw_err_refuse(err, AGW_R_CLAIM, why);
        t.has_nbf = 1;
    }
    if ((v = json_object_get(claims, "iat")) != NULL) {
        if ((why = numeric_why(numeric_get(&t.iat, v), "iat not a number", "iat invalid")))
            return agw_err_refuse(err, AGW_R_CLAIM, why);
        t.has_iat = 1;
    }
    return check_registered(&t, !issuer || json_str_eq(json_object_get(claims, "iss"), issuer),
                            !audiences || audiences->nelts == 0
                                || audience_ok(json_object_get(claims, "aud"), audiences),
                            now, leeway, err);
}

/* ---- briefs: the registered claims of a verified token in a flat record ---------------- */

/* An integer time claim within range into *out; absent is fine unless required. */
static int brief_time(apr_int64_t *out, unsigned char *has, const json_t *v, int required)
{
    json_int_t i;

    *has = 0;
    if (!v)
        return !required;
    if (!json_is_integer(v))
        return 0;
    i = json_integer_value(v);
    if (i < 0 || i > AGW_JWT_TIME_MAX)
        return 0;
    *out = (apr_int64_t)i;
    *has = 1;
    return 1;
}

static int brief_put(agw_jwt_brief_t *b, apr_size_t *used, const char *s, apr_size_t len,
                     apr_uint16_t *plen)
{
    if (len > AGW_JWT_BRIEF_TEXT - *used)
        return 0;
    memcpy(b->text + *used, s, len);
    *used += len;
    *plen = (apr_uint16_t)len;
    return 1;
}

/* aud as audience_ok reads it: strings kept, anything else marks the claim malformed. */
static int brief_aud(agw_jwt_brief_t *b, apr_size_t *used, const json_t *aud)
{
    size_t i;

    if (!aud)
        return 1;
    if (json_is_string(aud)) {
        b->naud = 1;
        return brief_put(b, used, json_string_value(aud), json_string_length(aud), b->aud_len);
    }
    if (!json_is_array(aud) || json_array_size(aud) > AGW_JWT_BRIEF_AUD_MAX) {
        b->aud_malformed = 1;
        return json_is_array(aud) ? 0 : 1;
    }
    for (i = 0; i < json_array_size(aud); i++)
        if (!json_is_string(json_array_get(aud, i))) {
            b->aud_malformed = 1;
            return 1;
        }
    for (i = 0; i < json_array_size(aud); i++) {
        const json_t *v = json_array_get(aud, i);
        if (!brief_put(b, used, json_string_value(v), json_string_length(v), &b->aud_len[i]))
            return 0;
    }
    b->naud = (unsigned char)json_array_size(aud);
    return 1;
}

int agw_jwt_brief_make(agw_jwt_brief_t *b, const json_t *claims, apr_pool_t *p)
{
    const json_t *iss;
    unsigned char has_exp;
    apr_size_t used = 0;
    const char *user;

    memset(b, 0, sizeof(*b));
    if (!json_is_object(claims) || json_object_get(claims, "cnf")
        || !brief_time(&b->exp, &has_exp, json_object_get(claims, "exp"), 1)
        || !brief_time(&b->nbf, &b->has_nbf, json_object_get(claims, "nbf"), 0)
        || !brief_time(&b->iat, &b->has_iat, json_object_get(claims, "iat"), 0))
        return 0;
    if ((iss = json_object_get(claims, "iss")) != NULL) {
        if (!json_is_string(iss)
            || !brief_put(b, &used, json_string_value(iss), json_string_length(iss), &b->iss_len))
            return 0;
        b->has_iss = 1;
    }
    if ((user = agw_jwt_user(p, claims, NULL)) != NULL) {
        if (!brief_put(b, &used, user, strlen(user), &b->user_len))
            return 0;
        b->has_user = 1;
    }
    return brief_aud(b, &used, json_object_get(claims, "aud"));
}

static int text_eq(const char *s, apr_size_t len, const char *want)
{
    apr_size_t wlen = strlen(want);

    return len == wlen && memcmp(s, want, wlen) == 0;
}

/* The text the brief's lengths cover (its audiences counted up to AGW_JWT_BRIEF_AUD_MAX),
 * unbounded: what the lengths say, not yet that they fit. */
static apr_size_t brief_text_used(const agw_jwt_brief_t *b)
{
    apr_size_t used = (apr_size_t)b->iss_len + b->user_len;
    int i, n = b->naud > AGW_JWT_BRIEF_AUD_MAX ? AGW_JWT_BRIEF_AUD_MAX : b->naud;

    for (i = 0; i < n; i++)
        used += b->aud_len[i];
    return used;
}

/* 1 when the brief's lengths stay within its text. */
static int brief_readable(const agw_jwt_brief_t *b)
{
    return b->naud <= AGW_JWT_BRIEF_AUD_MAX && brief_text_used(b) <= AGW_JWT_BRIEF_TEXT;
}

AGW_HOT apr_size_t agw_jwt_brief_size(const agw_jwt_brief_t *b)
{
    apr_size_t used = brief_text_used(b);

    return offsetof(agw_jwt_brief_t, text) + (used < AGW_JWT_BRIEF_TEXT ? used
                                                                          : AGW_JWT_BRIEF_TEXT);
}

static int brief_audience_ok(const agw_jwt_brief_t *b, const apr_array_header_t *audiences)
{
    const char *at = b->text + b->iss_len + b->user_len;
    int i, j;

    if (b->aud_malformed)
        return 0;
    for (i = 0; i < b->naud; at += b->aud_len[i], i++)
        for (j = 0; j < audiences->nelts; j++)
            if (text_eq(at, b->aud_len[i], APR_ARRAY_IDX(audiences, j, const char *)))
                return 1;
    return 0;
}

AGW_HOT apr_status_t agw_jwt_check_brief(const agw_jwt_brief_t *b, const char *issuer,
                                 const apr_array_header_t *audiences,
                                 apr_int64_t now, apr_int64_t leeway, agw_err_t *err)
{
    times_t t;

    if (!brief_readable(b))
        return agw_err_refuse(err, AGW_R_MALFORMED, "cached claims unreadable");
    memset(&t, 0, sizeof(t));
    t.exp.is_int = t.nbf.is_int = t.iat.is_int = 1;
    t.exp.i = b->exp;
    t.nbf.i = b->nbf;
    t.iat.i = b->iat;
    t.has_nbf = b->has_nbf;
    t.has_iat = b->has_iat;
    return check_registered(&t, !issuer || (b->has_iss && text_eq(b->text, b->iss_len, issuer)),
                            !audiences || audiences->nelts == 0 || brief_audience_ok(b, audiences),
                            now, leeway, err);
}

AGW_HOT char *agw_jwt_brief_user(apr_pool_t *p, const agw_jwt_brief_t *b)
{
    if (!b->has_user || !brief_readable(b))
        return NULL;
    return apr_pstrmemdup(p, b->text + b->iss_len, b->user_len);
}

char *agw_jwt_user(apr_pool_t *p, const json_t *claims, const agw_claim_path_t *path)
{
    const json_t *v = path ? agw_claim_path_get(path, claims) : json_object_get(claims, "sub");

    if (!v || json_is_null(v) || json_is_object(v) || json_is_array(v)) {
        v = json_object_get(claims, "azp");
        if (!v || !json_is_string(v))
            v = json_object_get(claims, "client_id");
    }
    return (v && !json_is_object(v) && !json_is_array(v)) ? agw_json_text(p, v) : NULL;
}

/* ---- explicit typing ------------------------------------------------------------------ */

#define TYP_PREFIX "application/"
#define TYP_PREFIX_LEN (sizeof(TYP_PREFIX) - 1)

/* A media type name without its optional "application/" prefix (RFC 7515 4.1.9). */
static const char *typ_bare(const char *s)
{
    return strncasecmp(s, TYP_PREFIX, TYP_PREFIX_LEN) == 0 ? s + TYP_PREFIX_LEN : s;
}

static int typ_eq(const char *a, const char *b)
{
    return strcasecmp(typ_bare(a), typ_bare(b)) == 0;
}

apr_status_t agw_jwt_check_typ(const char *typ, const apr_array_header_t *accepted,
                               agw_err_t *err)
{
    /* RFC 7519 5.1 "JWT", RFC 9068 "at+jwt", RFC 7515 9.1 "JOSE" (compact serialization) */
    static const char *const access_types[] = { "JWT", "at+jwt", "JOSE" };
    apr_size_t i;
    int j;

    if (accepted && accepted->nelts > 0) {
        for (j = 0; typ && j < accepted->nelts; j++)
            if (typ_eq(typ, APR_ARRAY_IDX(accepted, j, const char *)))
                return APR_SUCCESS;
        return agw_err_refuse(err, AGW_R_TYPE, "typ not accepted");
    }
    if (!typ)
        return APR_SUCCESS;
    for (i = 0; i < sizeof(access_types) / sizeof(access_types[0]); i++)
        if (typ_eq(typ, access_types[i]))
            return APR_SUCCESS;
    return agw_err_refuse(err, AGW_R_TYPE, "typ not accepted");
}

int agw_jwt_typ_name_ok(const char *name)
{
    const char *s;

    if (!name)
        return 0;
    name = typ_bare(name);
    if (!*name || strlen(name) > 127)
        return 0;
    for (s = name; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
              || strchr("!#$&-^_.+", *s)))
            return 0;
    return 1;
}

/* ---- claim paths -------------------------------------------------------------------- */

struct agw_claim_path_t {
    const char *text;           /* as configured */
    int pointer;                /* 1: RFC 6901 pointer in segs, 0: literal name then dot-walk */
    int nsegs;                  /* pointer segments, or dot segments (0: no dot-walk) */
    const char **segs;          /* unescaped */
};

#define AGW_CLAIM_PATH_MAX 1024

static const char **split_dots(apr_pool_t *p, const char *path, int *pn)
{
    int n = 1, i = 0;
    const char *s, *start;
    const char **segs;

    for (s = path; *s; s++)
        if (*s == '.')
            n++;
    segs = apr_pcalloc(p, sizeof(*segs) * (apr_size_t)n);
    for (start = s = path;; s++) {
        if (*s == '.' || *s == '\0') {
            /* An empty segment can name nothing when walking: the literal lookup still applies. */
            if (s == start)
                return NULL;
            segs[i++] = apr_pstrmemdup(p, start, (apr_size_t)(s - start));
            if (*s == '\0')
                break;
            start = s + 1;
        }
    }
    *pn = n;
    return segs;
}

static const char **split_pointer(apr_pool_t *p, const char *path, int *pn, const char **perr)
{
    int n = 0, i = 0;
    const char *s;
    const char **segs;
    char *out;

    for (s = path; *s; s++)
        if (*s == '/')
            n++;
    segs = apr_pcalloc(p, sizeof(*segs) * (apr_size_t)n);
    s = path;
    while (*s == '/') {
        s++;
        out = apr_palloc(p, strlen(s) + 1);
        segs[i] = out;
        while (*s && *s != '/') {
            if (*s == '~') {
                if (s[1] == '0')
                    *out++ = '~';
                else if (s[1] == '1')
                    *out++ = '/';
                else {
                    *perr = "bad ~ escape in JSON Pointer: write ~0 for ~ and ~1 for /";
                    return NULL;
                }
                s += 2;
            }
            else {
                *out++ = *s++;
            }
        }
        *out = '\0';
        i++;
    }
    *pn = n;
    return segs;
}

agw_claim_path_t *agw_claim_path_compile(apr_pool_t *p, const char *path, const char **perr)
{
    agw_claim_path_t *cp;
    const char *dummy;

    if (!perr)
        perr = &dummy;
    if (!path || !*path) {
        *perr = "empty claim path";
        return NULL;
    }
    if (strlen(path) > AGW_CLAIM_PATH_MAX) {
        *perr = "claim path too long";
        return NULL;
    }
    cp = apr_pcalloc(p, sizeof(*cp));
    cp->text = apr_pstrdup(p, path);
    if (path[0] == '/') {
        cp->pointer = 1;
        cp->segs = split_pointer(p, path, &cp->nsegs, perr);
        if (!cp->segs)
            return NULL;
    }
    else if (strchr(path, '.')) {
        cp->segs = split_dots(p, path, &cp->nsegs);
        if (!cp->segs)
            cp->nsegs = 0;
    }
    return cp;
}

const char *agw_claim_path_text(const agw_claim_path_t *cp)
{
    return cp ? cp->text : NULL;
}

/* RFC 6901 array index: "0" or a digit string without a leading zero, inside the array. */
static json_t *array_index(const json_t *arr, const char *seg)
{
    size_t idx = 0, n = json_array_size(arr);
    const char *s;

    if (!seg[0] || (seg[0] == '0' && seg[1]))
        return NULL;
    for (s = seg; *s; s++) {
        if (*s < '0' || *s > '9')
            return NULL;
        if (idx > n)            /* already out of range: stop before any overflow */
            return NULL;
        idx = idx * 10 + (size_t)(*s - '0');
    }
    return idx < n ? json_array_get(arr, idx) : NULL;
}

json_t *agw_claim_path_get(const agw_claim_path_t *cp, const json_t *claims)
{
    json_t *cur;
    int i;

    if (!cp || !claims)
        return NULL;
    if (cp->pointer) {
        cur = (json_t *)claims;
        for (i = 0; i < cp->nsegs && cur; i++) {
            if (json_is_object(cur))
                cur = json_object_get(cur, cp->segs[i]);
            else if (json_is_array(cur))
                cur = array_index(cur, cp->segs[i]);
            else
                cur = NULL;
        }
        return cur;
    }
    if (!json_is_object(claims))
        return NULL;
    cur = json_object_get(claims, cp->text);
    if (cur || cp->nsegs == 0)
        return cur;
    cur = (json_t *)claims;
    for (i = 0; i < cp->nsegs && cur; i++)
        cur = json_is_object(cur) ? json_object_get(cur, cp->segs[i]) : NULL;
    return cur;
}

/* ---- matching ----------------------------------------------------------------------- */

int agw_claim_has_word(const json_t *value, const char *want)
{
    size_t wlen, i, n, len;
    const char *s, *end, *w;

    if (!value || !want || !*want)
        return 0;
    wlen = strlen(want);
    if (json_is_string(value)) {
        s = json_string_value(value);
        end = s + json_string_length(value);
        /* RFC 6749 3.3: scope tokens are separated by single spaces; tolerate runs of them. */
        while (s < end) {
            while (s < end && *s == ' ')
                s++;
            w = s;
            while (s < end && *s != ' ')
                s++;
            len = (size_t)(s - w);
            if (len > 0 && len == wlen && memcmp(w, want, wlen) == 0)
                return 1;
        }
        return 0;
    }
    if (json_is_array(value)) {
        n = json_array_size(value);
        for (i = 0; i < n; i++)
            if (json_str_eq(json_array_get(value, i), want))
                return 1;
    }
    return 0;
}

static int scalar_equals(const json_t *v, const char *want)
{
    char buf[32];
    apr_pool_t *tmp;
    int eq;

    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_str_eq(v, want);
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strcmp(buf, want) == 0;
    case JSON_REAL:
        /* Rare in claims; agw_json_text owns the canonical text of a real, and needs a pool. */
        if (apr_pool_create(&tmp, NULL) != APR_SUCCESS)
            return 0;
        {
            const char *text = agw_json_text(tmp, v);
            eq = text && strcmp(text, want) == 0;
        }
        apr_pool_destroy(tmp);
        return eq;
    case JSON_TRUE:
        return strcmp(want, "true") == 0;
    case JSON_FALSE:
        return strcmp(want, "false") == 0;
    default:
        return 0;               /* null, objects, and nested arrays never match */
    }
}

int agw_claim_equals(const json_t *value, const char *want)
{
    size_t i, n;

    if (!value || !want)
        return 0;
    if (json_is_array(value)) {
        n = json_array_size(value);
        for (i = 0; i < n; i++)
            if (scalar_equals(json_array_get(value, i), want))
                return 1;
        return 0;
    }
    return scalar_equals(value, want);
}
