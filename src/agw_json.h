/* JSON parsing with limits (duplicate names, nesting depth, size) and small accessors over jansson. */
#ifndef AGW_JSON_H
#define AGW_JSON_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include "agw_err.h"

#define AGW_JSON_MAX_DEPTH 16          /* objects/arrays nested deeper are refused */

/* Parses exactly text[0..len) as one JSON value. Refuses: duplicate member names at any
 * level, nesting deeper than max_depth (an object or array at top level is depth 1; 0 or
 * less means AGW_JSON_MAX_DEPTH), embedded NUL (raw or \u0000), trailing bytes, invalid
 * UTF-8. Depth is measured before jansson runs, so deep input never reaches its recursion.
 * The result is released by a cleanup on p. err->code is invalid_token, reason one of
 * "JSON: empty", "JSON: nesting too deep", "JSON: embedded NUL", "JSON: duplicate member
 * name", "JSON: invalid UTF-8", "JSON: trailing data", "JSON: truncated", "JSON: number out
 * of range", "JSON: syntax error". */
apr_status_t agw_json_parse(json_t **pjson, apr_pool_t *p, const char *text, apr_size_t len,
                            int max_depth, agw_err_t *err);

/* agw_json_parse's own reader for plain JSON (ASCII strings with the usual escapes, integers,
 * literals, objects, arrays): a new reference to the value, or NULL for anything else, which
 * agw_json_parse then hands to jansson. No depth check (agw_json_parse checks before).
 * Exposed for fuzz/fuzz_json.c, which checks it against jansson. */
json_t *agw_json_fast(const char *text, apr_size_t len);

/* Registers json_decref(j) as a cleanup on p and returns j (j may be NULL). */
json_t *agw_json_own(apr_pool_t *p, json_t *j);

/* The member's string value, or NULL when absent or not a string. */
const char *agw_json_str(const json_t *obj, const char *name);

/* The JSON text of a scalar as SPEC.md compares claims: strings as their raw value,
 * integers in decimal, reals via "%.17g" trimmed (the shortest "%.Ng", N <= 17, that reads
 * back as the same double: 0.1 is "0.1", 2.0 is "2", 1e300 is "1e+300"), true/false, null
 * as "null". For arrays: elements' texts joined by ","; for objects: compact JSON in member
 * order. NULL for a NULL value. From p. */
char *agw_json_text(apr_pool_t *p, const json_t *value);

#endif
