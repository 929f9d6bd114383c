/* geometry.c: canvas geometry shared by every backend. */
#include "extract.h"

static int round_even(double v)
{
    int n = (int)(v / 2.0 + 0.5) * 2;
    return n < 2 ? 2 : n;
}

lc_rect lc_fit_contain(int display_width, int display_height, int canvas_width, int canvas_height)
{
    lc_rect r = {0, 0, canvas_width, canvas_height};
    if (display_width <= 0 || display_height <= 0)
        return r;
    /* The smaller factor keeps the whole picture: "contain", never crop. Small
     * sources are scaled up too, so every bundle frame looks alike downstream. */
    double sx = (double)canvas_width / display_width;
    double sy = (double)canvas_height / display_height;
    double s = sx < sy ? sx : sy;
    r.width = round_even(display_width * s);
    r.height = round_even(display_height * s);
    if (r.width > canvas_width)
        r.width = canvas_width;
    if (r.height > canvas_height)
        r.height = canvas_height;
    /* Even offsets keep the 4:2:0 chroma planes aligned with the luma rect. */
    r.x = ((canvas_width - r.width) / 2) & ~1;
    r.y = ((canvas_height - r.height) / 2) & ~1;
    return r;
}
