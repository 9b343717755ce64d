/* Unit tests of the shared helpers: the sanitisers by purpose, hex, and the bounded file reader, with hostile input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include "tests.h"
#include "agw_util.h"

#define P agw_test_pool

/* ---- log lines ---------------------------------------------------------------------------- */

START_TEST(log_replaces_controls_quotes_backslashes)
{
    ck_assert_str_eq(agw_text_log(P, "a\r\nb\tc\x1b[31m\x7f\"q\"\\z", 100, 0),
                     "a??b?c?[31m??q??z");
    /* bytes above ASCII (UTF-8, Latin-1) cannot forge anything but are not printable here */
    ck_assert_str_eq(agw_text_log(P, "caf\xc3\xa9 \xff", 100, 0), "caf?? ?");
}
END_TEST

START_TEST(log_spaces_kept_unless_word)
{
    ck_assert_str_eq(agw_text_log(P, "sub=x iss=y", 100, 0), "sub=x iss=y");
    /* a value that must stay one field cannot add a fake key=value to the line */
    ck_assert_str_eq(agw_text_log(P, "x refusal=none", 100, AGW_TEXT_WORD), "x?refusal=none");
}
END_TEST

START_TEST(log_bounded_and_marks_cut_on_request)
{
    char long_in[5000];

    memset(long_in, 'A', sizeof(long_in) - 1);
    long_in[sizeof(long_in) - 1] = '\0';
    ck_assert_uint_eq(strlen(agw_text_log(P, long_in, 96, 0)), 96);
    ck_assert_str_eq(agw_text_log(P, "abcdef", 3, 0), "abc");
    ck_assert_str_eq(agw_text_log(P, "abcdef", 3, AGW_TEXT_MARK_CUT), "abc...");
    /* at the bound exactly: nothing was cut, nothing marked */
    ck_assert_str_eq(agw_text_log(P, "abc", 3, AGW_TEXT_MARK_CUT), "abc");
    ck_assert_str_eq(agw_text_log(P, "\n\n\n\n", 2, AGW_TEXT_MARK_CUT), "??...");
}
END_TEST

START_TEST(log_empty_and_null)
{
    ck_assert_str_eq(agw_text_log(P, "", 10, AGW_TEXT_MARK_CUT | AGW_TEXT_WORD), "");
    ck_assert_str_eq(agw_text_log(P, "abc", 0, 0), "");
    ck_assert_ptr_null(agw_text_log(P, NULL, 10, 0));
}
END_TEST

/* ---- header values ------------------------------------------------------------------------ */

START_TEST(header_no_line_breaks_and_bounded)
{
    char long_in[9000];

    /* a claim cannot add a header of its own (response splitting, request smuggling) */
    ck_assert_str_eq(agw_text_header(P, "ok\r\nX-Admin: 1", 100), "ok  X-Admin: 1");
    ck_assert_str_eq(agw_text_header(P, "\t\x01\x1f\x7f", 100), "    ");
    /* quotes, backslashes and UTF-8 are a header value's to carry */
    ck_assert_str_eq(agw_text_header(P, "\"J\\o\" caf\xc3\xa9", 100), "\"J\\o\" caf\xc3\xa9");
    memset(long_in, 'v', sizeof(long_in) - 1);
    long_in[sizeof(long_in) - 1] = '\0';
    ck_assert_uint_eq(strlen(agw_text_header(P, long_in, 4096)), 4096);
    ck_assert_str_eq(agw_text_header(P, "", 4096), "");
    /* a value that needs no change is not copied; one that does is, the input untouched */
    {
        const char *clean = "auth0|ann", *dirty = "a\nb";
        ck_assert_ptr_eq(agw_text_header(P, clean, 100), clean);
        ck_assert_ptr_ne(agw_text_header(P, dirty, 100), dirty);
        ck_assert_str_eq(dirty, "a\nb");
        ck_assert_str_eq(agw_text_header(P, "abc\x01", 3), "abc");
        ck_assert_str_eq(agw_text_header(P, "ab\x01" "cd", 3), "ab ");
    }
}
END_TEST

/* ---- quoted-strings ----------------------------------------------------------------------- */

START_TEST(quoted_cannot_end_the_string)
{
    const char *q = agw_text_quoted(P, "x\", error=\"none\\");

    ck_assert_str_eq(q, "x', error='none'");
    ck_assert_ptr_null(strchr(q, '"'));
    ck_assert_str_eq(agw_text_quoted(P, "a\r\nb\x7f\xc3\xa9"), "a''b'''");
    ck_assert_str_eq(agw_text_quoted(P, ""), "");
    ck_assert_str_eq(agw_text_quoted(P, NULL), "");
}
END_TEST

/* ---- hex ---------------------------------------------------------------------------------- */

START_TEST(hex_vectors)
{
    static const unsigned char b[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
    unsigned char all[256];
    char out[16], *end, *h;
    int i;

    ck_assert_str_eq(agw_hex(P, b, sizeof(b)), "00017f80abff");
    ck_assert_str_eq(agw_hex(P, b, 0), "");
    end = agw_hex_put(out, b + 4, 2, 1);
    ck_assert_str_eq(out, "ABFF");
    ck_assert_ptr_eq(end, out + 4);
    for (i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    h = agw_hex(P, all, sizeof(all));
    ck_assert_uint_eq(strlen(h), 512);
    for (i = 0; i < 256; i++) {
        char two[3];
        snprintf(two, sizeof(two), "%02x", i);
        ck_assert_int_eq(memcmp(h + 2 * i, two, 2), 0);
    }
}
END_TEST

/* ---- the file reader ---------------------------------------------------------------------- */

static char dir[64];

static void dir_setup(void)
{
    agw_test_pool_setup();
    snprintf(dir, sizeof(dir), "/tmp/agw_util_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    agw_test_pool_teardown();
}

static const char *file_with(const char *name, const char *data, apr_size_t len)
{
    const char *path = apr_pstrcat(P, dir, "/", name, NULL);
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

START_TEST(file_read_whole_and_bounded)
{
    agw_file_step_e step = AGW_FILE_OPEN;
    char *data = NULL, big[10000];
    apr_size_t len = 99;

    ck_assert_int_eq(agw_file_read(&data, &len, &step, P, file_with("a", "ab\0c\n", 5), 5),
                     APR_SUCCESS);
    ck_assert_int_eq(step, AGW_FILE_OK);
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(memcmp(data, "ab\0c\n", 6), 0);        /* NUL-terminated, NULs kept */
    /* one byte over the bound: refused, nothing handed back */
    ck_assert_int_eq(agw_file_read(&data, &len, &step, P, file_with("b", "123456", 6), 5),
                     APR_ENOSPC);
    ck_assert_int_eq(step, AGW_FILE_TOO_LARGE);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
    /* larger than the first guess of the buffer: it grows, up to the bound */
    memset(big, 'k', sizeof(big));
    ck_assert_int_eq(agw_file_read(&data, &len, NULL, P, file_with("c", big, sizeof(big)),
                                   sizeof(big)), APR_SUCCESS);
    ck_assert_uint_eq(len, sizeof(big));
    ck_assert_int_eq(agw_file_read(&data, &len, &step, P, file_with("d", big, sizeof(big)),
                                   sizeof(big) - 1), APR_ENOSPC);
    ck_assert_int_eq(step, AGW_FILE_TOO_LARGE);
}
END_TEST

START_TEST(file_read_empty_missing_directory)
{
    agw_file_step_e step = AGW_FILE_OK;
    char *data = NULL;
    apr_size_t len = 99;

    ck_assert_int_eq(agw_file_read(&data, &len, &step, P, file_with("e", "", 0), 10),
                     APR_SUCCESS);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(data, "");
    ck_assert_int_ne(agw_file_read(&data, &len, &step, P,
                                   apr_pstrcat(P, dir, "/missing", NULL), 10), APR_SUCCESS);
    ck_assert_int_eq(step, AGW_FILE_OPEN);
    ck_assert_ptr_null(data);
    ck_assert_int_ne(agw_file_read(&data, &len, &step, P, dir, 10), APR_SUCCESS);
    ck_assert_int_eq(step, AGW_FILE_READ);
    ck_assert_ptr_null(data);
}
END_TEST

START_TEST(file_read_without_a_size)
{
    agw_file_step_e step = AGW_FILE_OPEN;
    char *data = NULL;
    apr_size_t len = 0;

    /* stat says 0 bytes; the file has more: read to the end all the same */
    ck_assert_int_eq(agw_file_read(&data, &len, &step, P, "/proc/self/status", 1 << 20),
                     APR_SUCCESS);
    ck_assert_int_eq(step, AGW_FILE_OK);
    ck_assert_uint_gt(len, 0);
    ck_assert_ptr_nonnull(strstr(data, "Name:"));
    ck_assert_int_eq(agw_file_read(&data, &len, &step, P, "/proc/self/status", 8), APR_ENOSPC);
    ck_assert_int_eq(step, AGW_FILE_TOO_LARGE);
}
END_TEST

Suite *agw_suite_util(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("text");
    TCase *tf = tcase_create("file");

    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, log_replaces_controls_quotes_backslashes);
    tcase_add_test(tc, log_spaces_kept_unless_word);
    tcase_add_test(tc, log_bounded_and_marks_cut_on_request);
    tcase_add_test(tc, log_empty_and_null);
    tcase_add_test(tc, header_no_line_breaks_and_bounded);
    tcase_add_test(tc, quoted_cannot_end_the_string);
    tcase_add_test(tc, hex_vectors);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(tf, dir_setup, dir_teardown);
    tcase_add_test(tf, file_read_whole_and_bounded);
    tcase_add_test(tf, file_read_empty_missing_directory);
    tcase_add_test(tf, file_read_without_a_size);
    suite_add_tcase(s, tf);
    return s;
}
