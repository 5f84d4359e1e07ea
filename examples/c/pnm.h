/*
 * pnm.h — minimal reader for binary PGM (P5, 1 channel) and PPM (P6, 3 channels) images with maxval 255,
 * the same subset the edgequant CLI reads. Pixels are returned interleaved [height, width, channels].
 * Header-only (static inline functions), no dependency on the library.
 */
#ifndef EQ_EXAMPLE_PNM_H
#define EQ_EXAMPLE_PNM_H

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pnm_image {
    uint8_t* pixels; /* malloc'ed, height * width * channels bytes */
    int height, width, channels;
} pnm_image;

/* Reads a whole file into a malloc'ed buffer. Returns 0 on success. */
static inline int pnm_read_file(const char* path, uint8_t** data, size_t* size)
{
    FILE* f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 1 << 16, n = 0;
    uint8_t* buf = (uint8_t*)malloc(cap);
    if (!buf) { fclose(f); return -1; }
    for (;;) {
        if (n == cap) {
            uint8_t* nb = (uint8_t*)realloc(buf, cap * 2);
            if (!nb) { free(buf); fclose(f); return -1; }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return -1; }
    *data = buf;
    *size = n;
    return 0;
}

/* Next whitespace-separated header token (skipping '#' comments); returns its length, 0 at end of data. */
static inline size_t pnm_token(const uint8_t* b, size_t len, size_t* pos, char* out, size_t cap)
{
    while (*pos < len && (isspace(b[*pos]) || b[*pos] == '#')) {
        if (b[*pos] == '#') { while (*pos < len && b[*pos] != '\n') (*pos)++; }
        else (*pos)++;
    }
    size_t n = 0;
    while (*pos < len && !isspace(b[*pos])) {
        if (n + 1 < cap) out[n++] = (char)b[*pos];
        (*pos)++;
    }
    out[n] = '\0';
    return n;
}

static inline int pnm_parse_int(const char* s, int* v)
{
    if (!*s) return -1;
    long x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        x = x * 10 + (*s - '0');
        if (x > 1000000) return -1;
    }
    *v = (int)x;
    return 0;
}

/* Reads a binary P5/P6 image. Returns 0 on success; on failure writes a message into err. */
static inline int pnm_read(const char* path, pnm_image* img, char* err, size_t errlen)
{
    uint8_t* b = NULL;
    size_t len = 0, pos = 0;
    char tok[32];
    int w = 0, h = 0, maxval = 0, channels;
    memset(img, 0, sizeof *img);
    if (pnm_read_file(path, &b, &len) != 0) { snprintf(err, errlen, "%s: cannot read file", path); return -1; }
    pnm_token(b, len, &pos, tok, sizeof tok);
    if (strcmp(tok, "P5") == 0) channels = 1;
    else if (strcmp(tok, "P6") == 0) channels = 3;
    else { snprintf(err, errlen, "%s: not a binary PGM/PPM (P5/P6) image", path); free(b); return -1; }
    if (pnm_token(b, len, &pos, tok, sizeof tok) == 0 || pnm_parse_int(tok, &w) != 0 ||
        pnm_token(b, len, &pos, tok, sizeof tok) == 0 || pnm_parse_int(tok, &h) != 0 ||
        pnm_token(b, len, &pos, tok, sizeof tok) == 0 || pnm_parse_int(tok, &maxval) != 0 ||
        w <= 0 || h <= 0 || maxval != 255) {
        snprintf(err, errlen, "%s: bad PGM/PPM header (only maxval 255 is supported)", path);
        free(b);
        return -1;
    }
    pos++; /* the single whitespace byte after maxval */
    size_t size = (size_t)w * (size_t)h * (size_t)channels;
    if (pos > len || len - pos < size) { snprintf(err, errlen, "%s: truncated image data", path); free(b); return -1; }
    img->pixels = (uint8_t*)malloc(size);
    if (!img->pixels) { snprintf(err, errlen, "out of memory"); free(b); return -1; }
    memcpy(img->pixels, b + pos, size);
    img->height = h;
    img->width = w;
    img->channels = channels;
    free(b);
    return 0;
}

static inline void pnm_free(pnm_image* img)
{
    free(img->pixels);
    img->pixels = NULL;
}

#endif /* EQ_EXAMPLE_PNM_H */
