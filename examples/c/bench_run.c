/*
 * bench_run — per-call latency of eq_session_run_u8 and model load time, measured from C.
 *
 *   bench_run MODEL.eqm [IMAGE.pgm] [--warmup N] [--calls N] [--loads N]
 *
 * Runs N warm-up calls (default 10), then times each of --calls (default 2000) eq_session_run_u8 calls with
 * clock_gettime(CLOCK_MONOTONIC) and prints the median/p10/p90/min in microseconds; then times --loads
 * (default 20) eq_model_load + eq_model_destroy pairs and prints their median. Without an image a fixed
 * synthetic pattern of the model's input size is used.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgequant.h"
#include "pnm.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int cmp_double(const void* a, const void* b)
{
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

static double percentile(double* v, int n, double q) /* v sorted */
{
    int i = (int)(q * (n - 1) + 0.5);
    return v[i < 0 ? 0 : (i >= n ? n - 1 : i)];
}

static double median(double* v, int n) /* v sorted */
{
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int fail(const char* what, eq_status st)
{
    fprintf(stderr, "bench_run: %s failed (status %d): %s\n", what, (int)st, eq_last_error());
    return 1;
}

int main(int argc, char** argv)
{
    const char* model_path = NULL;
    const char* image_path = NULL;
    int warmup = 10, calls = 2000, loads = 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc) calls = atoi(argv[++i]);
        else if (strcmp(argv[i], "--loads") == 0 && i + 1 < argc) loads = atoi(argv[++i]);
        else if (!model_path) model_path = argv[i];
        else if (!image_path) image_path = argv[i];
        else { model_path = NULL; break; }
    }
    if (!model_path || warmup < 0 || calls < 1 || loads < 1) {
        fprintf(stderr, "usage: bench_run MODEL.eqm [IMAGE.pgm] [--warmup N] [--calls N] [--loads N]\n");
        return 2;
    }

    eq_status st;
    eq_model* model = NULL;
    eq_session* session = NULL;
    if ((st = eq_model_load(model_path, &model)) != EQ_OK) return fail("eq_model_load", st);
    eq_model_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if ((st = eq_model_get_info(model, &info)) != EQ_OK) return fail("eq_model_get_info", st);
    if ((st = eq_session_create(model, NULL, &session)) != EQ_OK) return fail("eq_session_create", st);

    pnm_image img;
    if (image_path) {
        char err[512];
        if (pnm_read(image_path, &img, err, sizeof err) != 0) { fprintf(stderr, "bench_run: %s\n", err); return 1; }
    }
    else {
        img.height = info.height;
        img.width = info.width;
        img.channels = info.channels;
        size_t n = (size_t)img.height * (size_t)img.width * (size_t)img.channels;
        img.pixels = (uint8_t*)malloc(n);
        for (size_t i = 0; i < n; i++) img.pixels[i] = (uint8_t)((i * 37u) & 0xFF);
    }

    size_t classes = (size_t)info.num_classes;
    float* logits = (float*)calloc(classes, sizeof(float));
    double* t = (double*)malloc((size_t)(calls > loads ? calls : loads) * sizeof(double));
    for (int i = 0; i < warmup; i++)
        if ((st = eq_session_run_u8(session, img.pixels, img.height, img.width, img.channels, logits, classes)) != EQ_OK)
            return fail("eq_session_run_u8", st);
    for (int i = 0; i < calls; i++) {
        double t0 = now_us();
        st = eq_session_run_u8(session, img.pixels, img.height, img.width, img.channels, logits, classes);
        t[i] = now_us() - t0;
        if (st != EQ_OK) return fail("eq_session_run_u8", st);
    }
    qsort(t, (size_t)calls, sizeof(double), cmp_double);
    printf("eq_session_run_u8: %s %dx%dx%d, %zu classes: median %.1f us, p10 %.1f, p90 %.1f, min %.1f (%d warm-up, %d timed calls)\n",
           info.precision, (int)info.channels, (int)info.height, (int)info.width, classes, median(t, calls),
           percentile(t, calls, 0.10), percentile(t, calls, 0.90), t[0], warmup, calls);

    if ((st = eq_session_destroy(session)) != EQ_OK) return fail("eq_session_destroy", st);
    if ((st = eq_model_destroy(model)) != EQ_OK) return fail("eq_model_destroy", st);

    for (int i = 0; i < loads; i++) {
        eq_model* m = NULL;
        double t0 = now_us();
        st = eq_model_load(model_path, &m);
        if (st != EQ_OK) return fail("eq_model_load", st);
        st = eq_model_destroy(m);
        t[i] = now_us() - t0;
        if (st != EQ_OK) return fail("eq_model_destroy", st);
    }
    qsort(t, (size_t)loads, sizeof(double), cmp_double);
    printf("eq_model_load + eq_model_destroy: median %.1f us, min %.1f, max %.1f (%d runs)\n", median(t, loads), t[0], t[loads - 1], loads);

    free(t);
    free(logits);
    pnm_free(&img);
    return 0;
}
