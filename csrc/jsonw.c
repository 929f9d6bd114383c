/* jsonw.c: see jsonw.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

static void put(jsonw *w, const char *s, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 1024;
        while (w->len + n + 1 > cap)
            cap *= 2;
        char *grown = realloc(w->buf, cap);
        if (!grown) {
            w->failed = 1;
            return;
        }
        w->buf = grown;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void puts_(jsonw *w, const char *s)
{
    put(w, s, strlen(s));
}

static void quoted(jsonw *w, const char *s)
{
    put(w, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(w, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            puts_(w, esc);
        } else {
            /* Bytes >= 0x80 pass through: tags are UTF-8 in every container
             * FFmpeg reads; Python decodes with errors="replace". */
            put(w, (const char *)p, 1);
        }
    }
    put(w, "\"", 1);
}

static void key(jsonw *w, const char *k)
{
    if (w->depth > 0 && w->has_items[w->depth - 1])
        put(w, ",", 1);
    if (w->depth > 0)
        w->has_items[w->depth - 1] = 1;
    if (k) {
        quoted(w, k);
        put(w, ":", 1);
    }
}

static void open_(jsonw *w, const char *k, const char *bracket)
{
    key(w, k);
    puts_(w, bracket);
    if (w->depth >= (int)sizeof w->has_items) {
        w->failed = 1;
        return;
    }
    w->has_items[w->depth++] = 0;
}

static void close_(jsonw *w, const char *bracket)
{
    if (w->depth > 0)
        w->depth--;
    puts_(w, bracket);
}

void jsonw_begin_object(jsonw *w, const char *k)
{
    open_(w, k, "{");
}
void jsonw_end_object(jsonw *w)
{
    close_(w, "}");
}
void jsonw_begin_array(jsonw *w, const char *k)
{
    open_(w, k, "[");
}
void jsonw_end_array(jsonw *w)
{
    close_(w, "]");
}

void jsonw_string(jsonw *w, const char *k, const char *value)
{
    key(w, k);
    if (value)
        quoted(w, value);
    else
        puts_(w, "null");
}

void jsonw_int(jsonw *w, const char *k, int64_t value)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)value);
    key(w, k);
    puts_(w, num);
}

/* printf writes the decimal point of the process locale (LC_NUMERIC), and
 * GUI hosts call setlocale(LC_ALL, ""): "de_DE.UTF-8" gives "11,842", which
 * is not JSON. %g never groups digits and glibc/BSD printf write ASCII
 * digits, so whatever sits between the digits of the mantissa is the decimal
 * point (one or more bytes): write it as '.'. Unlike uselocale() this needs
 * no per-thread locale object and is the same on every platform. */
static void c_number(const char *in, char out[64])
{
    size_t o = 0;
    int in_point = 0;
    for (const char *p = in; *p && o < 63; p++) {
        int plain = (*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == 'e' || *p == 'E';
        if (plain) {
            out[o++] = *p;
            in_point = 0;
        } else if (!in_point) {
            out[o++] = '.';
            in_point = 1;
        }
    }
    out[o] = '\0';
}

void jsonw_double(jsonw *w, const char *k, double value)
{
    char num[64];
    key(w, k);
    if (!isfinite(value)) {
        puts_(w, "null");
        return;
    }
    snprintf(num, sizeof num, "%.12g", value);
    char text[64];
    c_number(num, text);
    puts_(w, text);
}

void jsonw_bool(jsonw *w, const char *k, int value)
{
    key(w, k);
    puts_(w, value ? "true" : "false");
}

void jsonw_null(jsonw *w, const char *k)
{
    key(w, k);
    puts_(w, "null");
}

char *jsonw_finish(jsonw *w)
{
    if (w->failed || !w->buf) {
        free(w->buf);
        w->buf = NULL;
        return NULL;
    }
    return w->buf;
}
