/* The one place that parses JSON: strict limits in front of jansson, and small accessors over it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "agw_json.h"

static apr_status_t json_cleanup(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

json_t *agw_json_own(apr_pool_t *p, json_t *j)
{
    if (j)
        apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    return j;
}

/* Measures nesting before jansson sees the text, so that hostile depth never reaches its
 * recursive descent. Brackets inside strings do not count; a backslash hides the next byte
 * (enough to find where a string ends; jansson validates the escape itself). Raw NUL bytes
 * are refused here because jansson would report them as a generic syntax error. */
static const char *json_prescan(const char *text, apr_size_t len, int max_depth)
{
    const unsigned char *s = (const unsigned char *)text, *end = s + len;
    int depth = 0, in_string = 0;

    for (; s < end; s++) {
        unsigned char c = *s;

        if (c == '\0')
            return "JSON: embedded NUL";
        if (in_string) {
            if (c == '\\') {
                if (++s == end)
                    break;
                if (*s == '\0')
                    return "JSON: embedded NUL";
            }
            else if (c == '"') {
                in_string = 0;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = 1;
            break;
        case '{':
        case '[':
            if (++depth > max_depth)
                return "JSON: nesting too deep";
            break;
        case '}':
        case ']':
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
    }
    return NULL;
}

/* ---- the fast path ------------------------------------------------------------------------------
 * jansson's reader goes through a character stream and is most of the cost of a new token. Tokens
 * are small, plain JSON, so a direct reader builds the same jansson values for the common case:
 * ASCII strings with the usual escapes, integers, literals, objects and arrays. Whatever it does
 * not handle or finds wrong (non-ASCII bytes, \u0000 and surrogates, reals, integer overflow,
 * duplicate names, any syntax error) makes it give up, and jansson reads the text instead; so
 * every refusal, and its reason, is still jansson's. fuzz/fuzz_json.c checks that whatever this
 * reader accepts, jansson accepts as an equal value. Depth is bounded by json_prescan before. */

typedef struct {
    const unsigned char *s, *end;
} fast_t;

static void fast_ws(fast_t *f)
{
    while (f->s < f->end && (*f->s == ' ' || *f->s == '\t' || *f->s == '\n' || *f->s == '\r'))
        f->s++;
}

static int hex4(const unsigned char *s, unsigned int *out)
{
    unsigned int v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        unsigned char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned int)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned int)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned int)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

/* A string at f->s (after its opening quote): its bytes in *pstr and *plen, either pointing into the
 * text (no escapes) or written to buf (at least as long as the rest of the text). */
/* A \uXXXX escape at f->s (outside the surrogates, not NUL) as UTF-8 at buf + *pn. */
static int fast_unicode(fast_t *f, char *buf, apr_size_t *pn)
{
    apr_size_t n = *pn;
    unsigned int u;

    if (f->end - f->s < 6 || !hex4(f->s + 2, &u) || u == 0 || (u >= 0xD800 && u <= 0xDFFF))
        return 0;
    if (u < 0x80) {
        buf[n++] = (char)u;
    }
    else if (u < 0x800) {
        buf[n++] = (char)(0xC0 | (u >> 6));
        buf[n++] = (char)(0x80 | (u & 0x3F));
    }
    else {
        buf[n++] = (char)(0xE0 | (u >> 12));
        buf[n++] = (char)(0x80 | ((u >> 6) & 0x3F));
        buf[n++] = (char)(0x80 | (u & 0x3F));
    }
    f->s += 4;
    *pn = n;
    return 1;
}

static int fast_string(fast_t *f, char *buf, const char **pstr, apr_size_t *plen)
{
    const unsigned char *start = f->s;
    apr_size_t n = 0;
    int escaped = 0;

    while (f->s < f->end) {
        unsigned char c = *f->s;

        if (c == '"') {
            if (!escaped) {
                *pstr = (const char *)start;
                *plen = (apr_size_t)(f->s - start);
            }
            else {
                *pstr = buf;
                *plen = n;
            }
            f->s++;
            return 1;
        }
        if (c < 0x20 || c >= 0x80)
            return 0;
        if (c != '\\') {
            if (escaped)
                buf[n++] = (char)c;
            f->s++;
            continue;
        }
        if (!escaped) {
            n = (apr_size_t)(f->s - start);
            memcpy(buf, start, n);
            escaped = 1;
        }
        if (f->end - f->s < 2)
            return 0;
        switch (f->s[1]) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u':
            if (!fast_unicode(f, buf, &n))
                return 0;
            break;
        default:
            return 0;
        }
        f->s += 2;
    }
    return 0;
}

static json_t *fast_value(fast_t *f, char *buf);

/* Steps over a container's opening bracket; 1 when close follows at once (it is empty). */
static int fast_open(fast_t *f, unsigned char close)
{
    f->s++;
    fast_ws(f);
    if (f->s < f->end && *f->s == close) {
        f->s++;
        return 1;
    }
    return 0;
}

/* After a member or element: 1 when a comma leads to another, 0 when close ends the
 * container, -1 for anything else. */
static int fast_next(fast_t *f, unsigned char close)
{
    fast_ws(f);
    if (f->s < f->end && *f->s == ',') {
        f->s++;
        fast_ws(f);
        return 1;
    }
    if (f->s < f->end && *f->s == close) {
        f->s++;
        return 0;
    }
    return -1;
}

static json_t *fast_object(fast_t *f, char *buf)
{
    json_t *obj = json_object(), *v;
    const char *key;
    apr_size_t klen;
    char *kcopy;
    int more, stored;

    if (!obj)
        return NULL;
    if (fast_open(f, '}'))
        return obj;
    for (;;) {
        if (f->s >= f->end || *f->s != '"')
            break;
        f->s++;
        if (!fast_string(f, buf, &key, &klen))
            break;
        /* the value may reuse buf: a decoded name moves to a copy of its own first */
        kcopy = NULL;
        if (key == buf) {
            if (!(kcopy = malloc(klen ? klen : 1)))
                break;
            memcpy(kcopy, buf, klen);
            key = kcopy;
        }
        /* a repeated name is left to jansson, which refuses it */
        fast_ws(f);
        stored = !json_object_getn(obj, key, klen) && f->s < f->end && *f->s == ':'
                 && (f->s++, fast_ws(f), (v = fast_value(f, buf)) != NULL)
                 && json_object_setn_new_nocheck(obj, key, klen, v) == 0;
        free(kcopy);
        if (!stored)
            break;
        if ((more = fast_next(f, '}')) <= 0) {
            if (more == 0)
                return obj;
            break;
        }
    }
    json_decref(obj);
    return NULL;
}

static json_t *fast_array(fast_t *f, char *buf)
{
    json_t *arr = json_array(), *v;
    int more;

    if (!arr)
        return NULL;
    if (fast_open(f, ']'))
        return arr;
    for (;;) {
        if (!(v = fast_value(f, buf)) || json_array_append_new(arr, v) != 0)
            break;
        if ((more = fast_next(f, ']')) <= 0) {
            if (more == 0)
                return arr;
            break;
        }
    }
    json_decref(arr);
    return NULL;
}

#if !JSON_INTEGER_IS_LONG_LONG
#error "jansson's json_int_t is expected to be long long (as jansson parses with strtoll)"
#endif

/* -?(0|[1-9][0-9]*) within json_int_t; a fraction or exponent (a real) is left to jansson. */
static json_t *fast_integer(fast_t *f)
{
    int neg = 0;
    unsigned long long v = 0, limit;

    if (*f->s == '-') {
        neg = 1;
        f->s++;
    }
    if (f->s >= f->end || *f->s < '0' || *f->s > '9')
        return NULL;
    limit = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
    if (*f->s == '0') {
        f->s++;
    }
    else {
        while (f->s < f->end && *f->s >= '0' && *f->s <= '9') {
            unsigned int d = (unsigned int)(*f->s - '0');
            if (v > (limit - d) / 10)
                return NULL;
            v = v * 10 + d;
            f->s++;
        }
    }
    if (f->s < f->end && (*f->s == '.' || *f->s == 'e' || *f->s == 'E' || (*f->s >= '0' && *f->s <= '9')))
        return NULL;
    if (neg)
        return json_integer(v == (unsigned long long)LLONG_MAX + 1
                                ? (json_int_t)LLONG_MIN : -(json_int_t)v);
    return json_integer((json_int_t)v);
}

static int fast_word(fast_t *f, const char *w, apr_size_t n)
{
    if ((apr_size_t)(f->end - f->s) < n || memcmp(f->s, w, n) != 0)
        return 0;
    f->s += n;
    return 1;
}

static json_t *fast_value(fast_t *f, char *buf)
{
    const char *str;
    apr_size_t len;

    if (f->s >= f->end)
        return NULL;
    switch (*f->s) {
    case '{':
        return fast_object(f, buf);
    case '[':
        return fast_array(f, buf);
    case '"':
        f->s++;
        return fast_string(f, buf, &str, &len) ? json_stringn_nocheck(str, len) : NULL;
    case 't':
        return fast_word(f, "true", 4) ? json_true() : NULL;
    case 'f':
        return fast_word(f, "false", 5) ? json_false() : NULL;
    case 'n':
        return fast_word(f, "null", 4) ? json_null() : NULL;
    default:
        if (*f->s == '-' || (*f->s >= '0' && *f->s <= '9'))
            return fast_integer(f);
        return NULL;
    }
}

json_t *agw_json_fast(const char *text, apr_size_t len)
{
    char small[512], *buf = len <= sizeof(small) ? small : malloc(len);
    fast_t f = { (const unsigned char *)text, (const unsigned char *)text + len };
    json_t *j;

    if (!buf)
        return NULL;
    fast_ws(&f);
    j = fast_value(&f, buf);
    fast_ws(&f);
    if (j && f.s != f.end) {
        json_decref(j);
        j = NULL;
    }
    if (buf != small)
        free(buf);
    return j;
}

static const char *json_reason(const json_error_t *jerr)
{
    switch (json_error_code(jerr)) {
    case json_error_duplicate_key:
        return "JSON: duplicate member name";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "JSON: embedded NUL";
    case json_error_invalid_utf8:
        return "JSON: invalid UTF-8";
    case json_error_end_of_input_expected:
        return "JSON: trailing data";
    case json_error_premature_end_of_input:
        return "JSON: truncated";
    case json_error_numeric_overflow:
        return "JSON: number out of range";
    case json_error_stack_overflow:
        return "JSON: nesting too deep";
    case json_error_out_of_memory:
        return "JSON: out of memory";
    default:
        return "JSON: syntax error";
    }
}

apr_status_t agw_json_parse(json_t **pjson, apr_pool_t *p, const char *text, apr_size_t len,
                            int max_depth, agw_err_t *err)
{
    const char *reason;
    json_error_t jerr;
    json_t *j;

    *pjson = NULL;
    if (!text || len == 0)
        return agw_err_refuse(err, AGW_R_MALFORMED, "JSON: empty");
    if (max_depth <= 0)
        max_depth = AGW_JSON_MAX_DEPTH;
    if ((reason = json_prescan(text, len, max_depth)) != NULL)
        return agw_err_refuse(err, AGW_R_MALFORMED, reason);
    /* NUL inside strings ("\u0000") is refused by jansson unless JSON_ALLOW_NUL is given;
     * trailing data is refused unless JSON_DISABLE_EOF_CHECK is given. */
    if (!(j = agw_json_fast(text, len))
        && !(j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr)))
        return agw_err_refuse(err, AGW_R_MALFORMED, json_reason(&jerr));
    *pjson = agw_json_own(p, j);
    return APR_SUCCESS;
}

const char *agw_json_str(const json_t *obj, const char *name)
{
    json_t *v;

    if (!json_is_object(obj) || !name)
        return NULL;
    v = json_object_get(obj, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The shortest "%.Ng" spelling that reads back as the same double, so that 0.1 prints as
 * "0.1" and not "0.10000000000000001" and a Require value written by a person matches. */
static char *json_real_text(apr_pool_t *p, double d)
{
    char buf[40], *c;
    int prec;

    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* A locale with a decimal comma must not change the text claims are compared by. */
    for (c = buf; *c; c++)
        if (*c == ',')
            *c = '.';
    return apr_pstrdup(p, buf);
}

char *agw_json_text(apr_pool_t *p, const json_t *value)
{
    if (!value)
        return NULL;
    switch (json_typeof(value)) {
    case JSON_STRING:
        return apr_pstrmemdup(p, json_string_value(value), json_string_length(value));
    case JSON_INTEGER:
        return apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)json_integer_value(value));
    case JSON_REAL:
        return json_real_text(p, json_real_value(value));
    case JSON_TRUE:
        return apr_pstrdup(p, "true");
    case JSON_FALSE:
        return apr_pstrdup(p, "false");
    case JSON_NULL:
        return apr_pstrdup(p, "null");
    case JSON_ARRAY: {
        apr_array_header_t *parts = apr_array_make(p, (int)json_array_size(value) + 1,
                                                   sizeof(char *));
        size_t i;

        for (i = 0; i < json_array_size(value); i++) {
            char *t = agw_json_text(p, json_array_get(value, i));

            APR_ARRAY_PUSH(parts, char *) = t ? t : "";
        }
        return apr_array_pstrcat(p, parts, ',');
    }
    case JSON_OBJECT: {
        char *dump = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        char *text;

        if (!dump)
            return NULL;
        text = apr_pstrdup(p, dump);
        free(dump);
        return text;
    }
    default:
        return NULL;
    }
}
