/*
 * test_sourcefile.c: a tiny command-line driver for csrc/sourcefile.c, built
 * and run by tests/test_sourcefile.py (the product module has no test entry
 * points). One command per run; the answer goes to stdout as one line:
 *
 *   orientation A B C D   -> "ROTATION HFLIP"      (matrix entries as numbers)
 *   boxes PATH            -> "IS_ISO HAS_MOOV BRAND" (BRAND "-" when empty)
 *   path PATH             -> "STATUS MESSAGE"        (STATUS 0 = LC_OK)
 *   recording PATH        -> "STATUS EMBEDDED OFFSET LENGTH IS_ISO|MESSAGE" (the range's box walk,
 *                            or the error)
 *   fail TEXT             -> "STATUS MESSAGE"        (TEXT formatted with %s)
 *   duration US           -> "MS"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sourcefile.h"

int main(int argc, char **argv)
{
    char err[LC_ERRMSG_SIZE] = "";
    if (argc == 6 && !strcmp(argv[1], "orientation")) {
        int rotation = -1, hflip = -1;
        lc_orientation_from_matrix(strtod(argv[2], NULL), strtod(argv[3], NULL), strtod(argv[4], NULL),
                                   strtod(argv[5], NULL), &rotation, &hflip);
        printf("%d %d\n", rotation, hflip);
    } else if (argc == 3 && !strcmp(argv[1], "boxes")) {
        lc_mp4_boxes b = lc_scan_mp4_boxes(argv[2]);
        printf("%d %d %s\n", b.is_iso, b.has_moov, b.brand[0] ? b.brand : "-");
    } else if (argc == 3 && !strcmp(argv[1], "path")) {
        lc_status status = lc_check_path(argv[2], err);
        printf("%d %s\n", (int)status, status == LC_OK ? "-" : err);
    } else if (argc == 3 && !strcmp(argv[1], "recording")) {
        lc_recording rec;
        lc_status status = lc_find_recording(argv[2], &rec, err);
        if (status == LC_OK)
            printf("%d %d %llu %llu %d\n", (int)status, rec.embedded, (unsigned long long)rec.offset,
                   (unsigned long long)rec.length, lc_scan_recording_boxes(argv[2], &rec).is_iso);
        else
            printf("%d %s\n", (int)status, err);
    } else if (argc == 3 && !strcmp(argv[1], "fail")) {
        lc_status status = lc_fail(err, LC_ERR_DAMAGED, "damaged: %s", argv[2]);
        printf("%d %s\n", (int)status, err);
    } else if (argc == 3 && !strcmp(argv[1], "duration")) {
        printf("%lld\n", (long long)lc_duration_ms_from_us(strtoll(argv[2], NULL, 10)));
    } else {
        fprintf(stderr, "usage: see the comment at the top of test_sourcefile.c\n");
        return 2;
    }
    return 0;
}
