/* The one place that parses JSON: strict limits in front of jansson, and small accessors over it. */
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
        return agw_err_token(err, "JSON: empty");
    if (max_depth <= 0)
        max_depth = AGW_JSON_MAX_DEPTH;
    if ((reason = json_prescan(text, len, max_depth)) != NULL)
        return agw_err_token(err, reason);
    /* NUL inside strings ("\u0000") is refused by jansson unless JSON_ALLOW_NUL is given;
     * trailing data is refused unless JSON_DISABLE_EOF_CHECK is given. */
    j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!j)
        return agw_err_token(err, json_reason(&jerr));
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
