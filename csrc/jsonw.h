/*
 * jsonw.h: a tiny JSON text writer for the probe (no dependency for one file).
 * Keys are NULL inside arrays. Any allocation failure is sticky: jsonw_finish
 * then returns NULL.
 */
#ifndef LC_JSONW_H
#define LC_JSONW_H

#include <stddef.h>
#include <stdint.h>

typedef struct jsonw {
    char *buf;
    size_t len, cap;
    int failed;
    int depth;
    unsigned char has_items[32]; /* per open container: needs a comma first */
} jsonw;

void jsonw_begin_object(jsonw *w, const char *key);
void jsonw_end_object(jsonw *w);
void jsonw_begin_array(jsonw *w, const char *key);
void jsonw_end_array(jsonw *w);
void jsonw_string(jsonw *w, const char *key, const char *value); /* NULL -> null */
void jsonw_int(jsonw *w, const char *key, int64_t value);
void jsonw_double(jsonw *w, const char *key, double value); /* NaN/inf -> null */
void jsonw_bool(jsonw *w, const char *key, int value);
void jsonw_null(jsonw *w, const char *key);
/* Returns the malloc'd text, or NULL after a failure (buffer freed). */
char *jsonw_finish(jsonw *w);

#endif
