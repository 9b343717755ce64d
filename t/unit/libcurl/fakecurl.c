/* A stand-in for libcurl, for t/unit/libcurl/test_libcurl.c only: it reports the version
 * FAKE_VERSION (FAKE_VERSION_NUM) and refuses the option FAKE_REFUSED, if defined, with
 * FAKE_REFUSED_WITH (default CURLE_UNKNOWN_OPTION). It never transfers anything:
 * curl_easy_perform returns FAKE_PERFORM if defined, else aborts the process, so that a test
 * whose transfer should have been refused before it was made fails loudly. */
#define CURL_DISABLE_TYPECHECK
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

static curl_version_info_data info;
static char handle;

curl_version_info_data *curl_version_info(CURLversion age)
{
    (void)age;
    info.age = CURLVERSION_NOW;
    info.version = FAKE_VERSION;
    info.version_num = FAKE_VERSION_NUM;
    return &info;
}

CURLcode curl_global_init(long flags)
{
    (void)flags;
    return CURLE_OK;
}

CURL *curl_easy_init(void)
{
    return (CURL *)&handle;
}

CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
    (void)curl;
#ifdef FAKE_REFUSED
#ifndef FAKE_REFUSED_WITH
#define FAKE_REFUSED_WITH CURLE_UNKNOWN_OPTION
#endif
    if (option == FAKE_REFUSED)
        return FAKE_REFUSED_WITH;
#else
    (void)option;
#endif
    return CURLE_OK;
}

CURLcode curl_easy_perform(CURL *curl)
{
    (void)curl;
#ifdef FAKE_PERFORM
    return FAKE_PERFORM;
#else
    abort();
#endif
}

CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info_, ...)
{
    (void)curl;
    (void)info_;
    return CURLE_UNKNOWN_OPTION;
}

CURLHcode curl_easy_header(CURL *curl, const char *name, size_t index, unsigned int origin,
                           int request, struct curl_header **hout)
{
    (void)curl, (void)name, (void)index, (void)origin, (void)request;
    *hout = NULL;
    return CURLHE_MISSING;
}

void curl_easy_cleanup(CURL *curl)
{
    (void)curl;
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *data)
{
    struct curl_slist *n = calloc(1, sizeof(*n)), *last;

    if (!n || !(n->data = strdup(data))) {
        free(n);
        return NULL;
    }
    if (!list)
        return n;
    for (last = list; last->next; last = last->next)
        ;
    last->next = n;
    return list;
}

void curl_slist_free_all(struct curl_slist *list)
{
    struct curl_slist *next;

    for (; list; list = next) {
        next = list->next;
        free(list->data);
        free(list);
    }
}
