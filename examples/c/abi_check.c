/*
 * abi_check — calls every function of the EdgeQuant C ABI with bad arguments (NULL pointers, NULL / foreign /
 * destroyed / wrong-kind handles, wrong sizes, NaN input, truncated and bit-flipped model files, ...) and
 * asserts the status documented in edgequant.h each time, plus a non-empty eq_last_error() message after
 * every failure. It also checks the good paths (memory load = file load, batches, topk, labels, threads).
 *
 *   abi_check [-v] MODEL.eqm [--fuzz-stride N]
 *
 * Prints one line per failed check (every check with -v) and a final "abi_check: N passed, M failed";
 * exit code 0 only when nothing failed. A crash is of course a failure too.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgequant.h"
#include "check.h"
#include "pnm.h"

/* Handles that the library never handed out. */
#define FOREIGN_MODEL ((eq_model*)(uintptr_t)0x1234)
#define FOREIGN_SESSION ((eq_session*)(uintptr_t)0x1234)
static int g_stack_object[16];
#define STACK_MODEL ((eq_model*)(void*)g_stack_object)
#define STACK_SESSION ((eq_session*)(void*)g_stack_object)
#define ALL_ONES_MODEL ((eq_model*)(uintptr_t)~(uintptr_t)0)
#define ALL_ONES_SESSION ((eq_session*)(uintptr_t)~(uintptr_t)0)

static eq_model_info g_info;
static uint8_t* g_pixels;        /* one test image [H, W, C] */
static float* g_input;           /* the same image preprocessed, [C, H, W] */
static float* g_ref;             /* its logits from the first session */
static size_t g_in_count, g_classes;

static void make_test_image(void)
{
    size_t plane = (size_t)g_info.height * (size_t)g_info.width, c = (size_t)g_info.channels;
    g_in_count = plane * c;
    g_pixels = (uint8_t*)malloc(g_in_count);
    g_input = (float*)malloc(g_in_count * sizeof(float));
    for (size_t i = 0; i < g_in_count; i++) g_pixels[i] = (uint8_t)((i * 37u + (i / 7u) * 11u) & 0xFF);
    for (size_t ch = 0; ch < c; ch++) {
        float mean = g_info.mean[ch], inv_std = 1.0f / g_info.std[ch];
        for (size_t i = 0; i < plane; i++) {
            float scaled = (float)g_pixels[i * c + ch] * g_info.pixel_scale;
            float centered = scaled - mean;
            g_input[ch * plane + i] = centered * inv_std;
        }
    }
}

/* ---------------------------------------------------------------- threads */

typedef struct thread_arg {
    eq_model* model;
    int iterations;
    int mismatches;
    int errors;
    char fresh_error[64];     /* eq_last_error() on a thread that never failed */
    char own_error[256];      /* message of an error caused on this thread */
} thread_arg;

static void* run_thread(void* p)
{
    thread_arg* a = (thread_arg*)p;
    snprintf(a->fresh_error, sizeof a->fresh_error, "%s", eq_last_error());
    eq_session* s = NULL;
    if (eq_session_create(a->model, NULL, &s) != EQ_OK) { a->errors++; return NULL; }
    float* out = (float*)malloc(g_classes * sizeof(float));
    for (int i = 0; i < a->iterations; i++) {
        memset(out, 0xAB, g_classes * sizeof(float));
        eq_status st = (i & 1) ? eq_session_run_f32(s, g_input, g_in_count, out, g_classes)
                               : eq_session_run_u8(s, g_pixels, g_info.height, g_info.width, g_info.channels, out, g_classes);
        if (st != EQ_OK) a->errors++;
        else if (memcmp(out, g_ref, g_classes * sizeof(float)) != 0) a->mismatches++;
    }
    /* An error on this thread: its message must stay on this thread. */
    if (eq_session_run_u8(s, g_pixels, g_info.height + 1, g_info.width, g_info.channels, out, g_classes) != EQ_ERR_INVALID_ARGUMENT)
        a->errors++;
    snprintf(a->own_error, sizeof a->own_error, "%s", eq_last_error());
    if (eq_session_destroy(s) != EQ_OK) a->errors++;
    free(out);
    return NULL;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char** argv)
{
    const char* model_path = NULL;
    long fuzz_stride = 0; /* 0: choose from the file size */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) g_verbose = 1;
        else if (strcmp(argv[i], "--fuzz-stride") == 0 && i + 1 < argc) fuzz_stride = strtol(argv[++i], NULL, 10);
        else if (!model_path) model_path = argv[i];
        else { fprintf(stderr, "usage: abi_check [-v] MODEL.eqm [--fuzz-stride N]\n"); return 2; }
    }
    if (!model_path) { fprintf(stderr, "usage: abi_check [-v] MODEL.eqm [--fuzz-stride N]\n"); return 2; }

    uint8_t* file_bytes = NULL;
    size_t file_size = 0;
    if (pnm_read_file(model_path, &file_bytes, &file_size) != 0) { fprintf(stderr, "abi_check: cannot read %s\n", model_path); return 2; }

    /* ---- version */
    CHECK(eq_abi_version() == EQ_ABI_VERSION);
    CHECK(eq_version() != NULL && eq_version()[0] != '\0');
    CHECK(eq_last_error() != NULL);

    /* ---- eq_model_load */
    eq_model* m = FOREIGN_MODEL;
    EXPECT(eq_model_load(NULL, &m), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_model_load(model_path, NULL), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_model_load(NULL, NULL), EQ_ERR_INVALID_ARGUMENT);
    m = FOREIGN_MODEL;
    EXPECT(eq_model_load("/nonexistent/dir/model.eqm", &m), EQ_ERR_IO);
    CHECK(m == NULL); /* out_model is cleared on failure */
    EXPECT(eq_model_load("", &m), EQ_ERR_INVALID_ARGUMENT); /* an empty path is a bad argument, not an I/O failure */
    EXPECT(eq_model_load("/", &m), EQ_ERR_IO);

    char tmp_path[] = "/tmp/eq_abi_check_XXXXXX";
    int fd = mkstemp(tmp_path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        /* empty file, garbage, truncated model file: all EQ_ERR_FORMAT */
        EXPECT(eq_model_load(tmp_path, &m), EQ_ERR_FORMAT);
        static const char garbage[] = "this is not a model file, just some text that is longer than the 64-byte header";
        CHECK(write(fd, garbage, sizeof garbage - 1) == (ssize_t)(sizeof garbage - 1));
        EXPECT(eq_model_load(tmp_path, &m), EQ_ERR_FORMAT);
        CHECK(ftruncate(fd, 0) == 0);
        CHECK(pwrite(fd, file_bytes, file_size - 1, 0) == (ssize_t)(file_size - 1));
        EXPECT(eq_model_load(tmp_path, &m), EQ_ERR_FORMAT);
        CHECK(m == NULL);
        CHECK(ftruncate(fd, (off_t)(file_size / 2)) == 0);
        EXPECT(eq_model_load(tmp_path, &m), EQ_ERR_FORMAT);
        close(fd);
        unlink(tmp_path);
    }

    /* ---- eq_model_load_memory */
    EXPECT(eq_model_load_memory(NULL, file_size, &m), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_model_load_memory(file_bytes, file_size, NULL), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_model_load_memory(file_bytes, 0, &m), EQ_ERR_FORMAT);
    {
        size_t cuts[] = { 1, 8, 63, 64, 65, 200, file_size / 3, file_size / 2, file_size - 64, file_size - 1 };
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            if (cuts[i] >= file_size) continue;
            m = FOREIGN_MODEL;
            char what[96];
            snprintf(what, sizeof what, "eq_model_load_memory(truncated to %zu of %zu bytes)", cuts[i], file_size);
            expect_status(__LINE__, what, eq_model_load_memory(file_bytes, cuts[i], &m), EQ_ERR_FORMAT);
            CHECK(m == NULL);
        }
        /* a buffer longer than the model (trailing garbage) */
        uint8_t* longer = (uint8_t*)calloc(file_size + 100, 1);
        memcpy(longer, file_bytes, file_size);
        m = NULL;
        eq_status st = eq_model_load_memory(longer, file_size + 100, &m);
        report(st == EQ_OK || st == EQ_ERR_FORMAT, __LINE__, "eq_model_load_memory(model + 100 trailing bytes) is EQ_OK or EQ_ERR_FORMAT", status_name(st));
        if (st == EQ_OK) EXPECT(eq_model_destroy(m), EQ_OK);
        free(longer);
    }

    /* ---- a good model (file) */
    eq_model* model = NULL;
    EXPECT(eq_model_load(model_path, &model), EQ_OK);
    if (!model) { printf("abi_check: %d passed, %d failed (cannot continue without a model)\n", g_pass, g_fail + 1); return 1; }

    /* ---- eq_model_get_info */
    eq_model_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    EXPECT(eq_model_get_info(NULL, &info), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_get_info(FOREIGN_MODEL, &info), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_get_info(STACK_MODEL, &info), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_get_info(ALL_ONES_MODEL, &info), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_get_info(model, NULL), EQ_ERR_INVALID_ARGUMENT);
    info.size = 0;
    EXPECT(eq_model_get_info(model, &info), EQ_ERR_INVALID_ARGUMENT);
    info.size = offsetof(eq_model_info, is_text) - 1;  /* smaller than even the ABI 1 struct */
    EXPECT(eq_model_get_info(model, &info), EQ_ERR_INVALID_ARGUMENT);
    /* A caller compiled against ABI 1 passes the ABI 1 size: it gets the ABI 1 fields, the text fields stay untouched. */
    info.size = offsetof(eq_model_info, is_text);
    info.is_text = 12345;
    EXPECT(eq_model_get_info(model, &info), EQ_OK);
    CHECK(info.is_text == 12345 && info.num_classes > 0);
    info.size = sizeof info;
    EXPECT(eq_model_get_info(model, &info), EQ_OK);
    CHECK(info.size == sizeof info);
    CHECK(info.architecture && strcmp(info.architecture, "vit") == 0);
    CHECK(info.is_text == 0 && info.max_tokens == 0 && info.has_tokenizer == 0 && info.is_embedding == 0);
    CHECK(info.precision && (strcmp(info.precision, "int8") == 0 || strcmp(info.precision, "fp32") == 0));
    CHECK(info.quantized == (info.precision && strcmp(info.precision, "int8") == 0));
    CHECK(info.input_name && strcmp(info.input_name, "input") == 0);
    CHECK(info.output_name && strcmp(info.output_name, "logits") == 0);
    CHECK(info.channels >= 1 && info.channels <= 4 && info.height > 0 && info.width > 0 && info.num_classes > 0);
    CHECK(info.pixel_scale > 0.0f);
    CHECK(info.std[0] > 0.0f);
    {
        /* a larger (future) struct size is accepted and the tail is left alone */
        struct { eq_model_info info; uint32_t tail[4]; } big;
        memset(&big, 0x5A, sizeof big);
        big.info.size = sizeof big;
        EXPECT(eq_model_get_info(model, &big.info), EQ_OK);
        CHECK(big.tail[0] == 0x5A5A5A5Au && big.tail[3] == 0x5A5A5A5Au);
        CHECK(big.info.num_classes == info.num_classes);
    }
    g_info = info;
    g_classes = (size_t)info.num_classes;
    make_test_image();

    /* ---- eq_model_get_label */
    const char* label = NULL;
    EXPECT(eq_model_get_label(NULL, 0, &label), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_get_label(FOREIGN_MODEL, 0, &label), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_get_label(model, 0, NULL), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_model_get_label(model, -1, &label), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_model_get_label(model, info.num_classes, &label), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_model_get_label(model, INT32_MIN, &label), EQ_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < info.num_classes; i++) {
        label = NULL;
        EXPECT(eq_model_get_label(model, i, &label), EQ_OK);
        CHECK(label != NULL && label[0] != '\0');
    }

    /* ---- eq_session_default_options */
    eq_session_options opt;
    memset(&opt, 0, sizeof opt);
    eq_session_default_options(&opt);
    CHECK(opt.size == sizeof opt && opt.threads == 1);
    eq_session_default_options(NULL); /* no crash */
    CHECK(1);

    /* ---- eq_session_create */
    eq_session* s = (eq_session*)FOREIGN_SESSION;
    EXPECT(eq_session_create(NULL, NULL, &s), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_create(FOREIGN_MODEL, NULL, &s), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_create(STACK_MODEL, &opt, &s), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_create(model, NULL, NULL), EQ_ERR_INVALID_ARGUMENT);
    {
        eq_session_options bad = opt;
        bad.size = 0;
        EXPECT(eq_session_create(model, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        CHECK(s == NULL);
        bad = opt;
        bad.threads = 0;
        EXPECT(eq_session_create(model, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        bad.threads = -3;
        EXPECT(eq_session_create(model, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        bad.threads = 257;
        EXPECT(eq_session_create(model, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        CHECK(s == NULL);
    }
    eq_session* session = NULL;
    EXPECT(eq_session_create(model, &opt, &session), EQ_OK);
    eq_session* session2 = NULL;
    EXPECT(eq_session_create(model, NULL, &session2), EQ_OK);
    CHECK(session != NULL && session2 != NULL && session != session2);
    /* a session handle is not a model handle and vice versa */
    EXPECT(eq_session_create((const eq_model*)(void*)session, NULL, &s), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_get_info((const eq_model*)(void*)session, &info), EQ_ERR_INVALID_HANDLE);

    /* ---- reference logits, u8 and f32 paths agree bit for bit */
    g_ref = (float*)malloc(g_classes * sizeof(float));
    float* out = (float*)malloc((2 * g_classes + 8) * sizeof(float));
    EXPECT(eq_session_run_u8(session, g_pixels, info.height, info.width, info.channels, g_ref, g_classes), EQ_OK);
    EXPECT(eq_session_run_f32(session, g_input, g_in_count, out, g_classes), EQ_OK);
    CHECK(memcmp(out, g_ref, g_classes * sizeof(float)) == 0);
    {
        int finite = 1;
        for (size_t i = 0; i < g_classes; i++) finite &= isfinite(g_ref[i]) != 0;
        CHECK(finite);
    }

    /* ---- eq_session_run_f32 */
    EXPECT(eq_session_run_f32(NULL, g_input, g_in_count, out, g_classes), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_run_f32(FOREIGN_SESSION, g_input, g_in_count, out, g_classes), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_run_f32(STACK_SESSION, g_input, g_in_count, out, g_classes), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_run_f32((eq_session*)(void*)model, g_input, g_in_count, out, g_classes), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_run_f32(session, NULL, g_in_count, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_f32(session, g_input, g_in_count, NULL, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_f32(session, g_input, 0, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_f32(session, g_input, 1, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_f32(session, g_input, g_in_count - 1, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    {
        float* two = (float*)malloc(2 * g_in_count * sizeof(float) + 64);
        memcpy(two, g_input, g_in_count * sizeof(float));
        memcpy(two + g_in_count, g_input, g_in_count * sizeof(float));
        EXPECT(eq_session_run_f32(session, two, g_in_count + 1, out, 2 * g_classes), EQ_ERR_INVALID_ARGUMENT);
        /* too-small logits buffer */
        EXPECT(eq_session_run_f32(session, g_input, g_in_count, out, g_classes - 1), EQ_ERR_BUFFER_TOO_SMALL);
        EXPECT(eq_session_run_f32(session, g_input, g_in_count, out, 0), EQ_ERR_BUFFER_TOO_SMALL);
        EXPECT(eq_session_run_f32(session, two, 2 * g_in_count, out, 2 * g_classes - 1), EQ_ERR_BUFFER_TOO_SMALL);
        /* batch of two = two single runs; a larger logits buffer is accepted and its tail untouched */
        for (size_t i = 0; i < 2 * g_classes + 8; i++) out[i] = -12345.0f;
        EXPECT(eq_session_run_f32(session, two, 2 * g_in_count, out, 2 * g_classes + 8), EQ_OK);
        CHECK(memcmp(out, g_ref, g_classes * sizeof(float)) == 0 && memcmp(out + g_classes, g_ref, g_classes * sizeof(float)) == 0);
        CHECK(out[2 * g_classes] == -12345.0f && out[2 * g_classes + 7] == -12345.0f);
        /* non-finite inputs anywhere in the batch */
        size_t positions[] = { 0, g_in_count / 2, g_in_count - 1, g_in_count, 2 * g_in_count - 1 };
        float bad_values[] = { NAN, -NAN, INFINITY, -INFINITY };
        for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++)
            for (size_t v = 0; v < sizeof bad_values / sizeof bad_values[0]; v++) {
                float keep = two[positions[p]];
                two[positions[p]] = bad_values[v];
                char what[96];
                snprintf(what, sizeof what, "eq_session_run_f32(value %g at %zu of a batch of 2)", (double)bad_values[v], positions[p]);
                expect_status(__LINE__, what, eq_session_run_f32(session, two, 2 * g_in_count, out, 2 * g_classes), EQ_ERR_INVALID_ARGUMENT);
                two[positions[p]] = keep;
            }
        free(two);
    }
    /* the session still works after all those errors */
    EXPECT(eq_session_run_f32(session, g_input, g_in_count, out, g_classes), EQ_OK);
    CHECK(memcmp(out, g_ref, g_classes * sizeof(float)) == 0);

    /* ---- eq_session_run_u8 */
    int H = info.height, W = info.width, C = info.channels;
    EXPECT(eq_session_run_u8(NULL, g_pixels, H, W, C, out, g_classes), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_run_u8(FOREIGN_SESSION, g_pixels, H, W, C, out, g_classes), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_run_u8(ALL_ONES_SESSION, g_pixels, H, W, C, out, g_classes), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_run_u8((eq_session*)(void*)model, g_pixels, H, W, C, out, g_classes), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_run_u8(session, NULL, H, W, C, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    /* Text entry points on an image model, and their null checks. */
    {
        int32_t ids[3] = {1, 2, 3}, n = 0;
        EXPECT(eq_session_run_tokens(session, ids, NULL, NULL, 1, 3, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_session_run_tokens(session, NULL, NULL, NULL, 1, 3, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_session_run_tokens(session, ids, NULL, NULL, 0, 3, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_session_run_tokens(NULL, ids, NULL, NULL, 1, 3, out, g_classes), EQ_ERR_INVALID_HANDLE);
        EXPECT(eq_session_run_text(session, "text", out, g_classes, NULL), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_session_run_text(session, NULL, out, g_classes, NULL), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_session_tokenize(session, "text", ids, 3, &n), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_session_tokenize(session, "text", ids, 1, &n), EQ_ERR_INVALID_ARGUMENT);
    }
    EXPECT(eq_session_run_u8(session, g_pixels, H, W, C, NULL, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_u8(session, g_pixels, H + 1, W, C, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_u8(session, g_pixels, H - 1, W, C, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_u8(session, g_pixels, H, W + 1, C, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_u8(session, g_pixels, W, H, C == 1 ? 3 : 1, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_u8(session, g_pixels, 0, W, C, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_u8(session, g_pixels, H, -W, C, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_u8(session, g_pixels, H, W, 0, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_u8(session, g_pixels, 1 << 20, 1 << 20, C, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_u8(session, g_pixels, INT32_MAX, INT32_MAX, INT32_MAX, out, g_classes), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_u8(session, g_pixels, H, W, C, out, g_classes - 1), EQ_ERR_BUFFER_TOO_SMALL);
    EXPECT(eq_session_run_u8(session, g_pixels, H, W, C, out, 0), EQ_ERR_BUFFER_TOO_SMALL);
    for (size_t i = 0; i < g_classes + 4; i++) out[i] = -12345.0f;
    EXPECT(eq_session_run_u8(session, g_pixels, H, W, C, out, g_classes + 4), EQ_OK);
    CHECK(memcmp(out, g_ref, g_classes * sizeof(float)) == 0 && out[g_classes] == -12345.0f);
    /* the second session of the same model gives the same logits */
    EXPECT(eq_session_run_u8(session2, g_pixels, H, W, C, out, g_classes), EQ_OK);
    CHECK(memcmp(out, g_ref, g_classes * sizeof(float)) == 0);

    /* ---- eq_topk */
    {
        int32_t idx[64];
        float prob[64];
        float lg[6] = { 0.5f, 3.0f, -1.0f, 2.0f, 2.5f, -7.0f };
        EXPECT(eq_topk(NULL, 6, 1, idx, prob), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_topk(lg, 0, 1, idx, prob), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_topk(lg, 6, 0, idx, prob), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_topk(lg, 6, -1, idx, prob), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_topk(lg, 6, 7, idx, prob), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_topk(lg, 6, INT32_MAX, idx, prob), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_topk(lg, (size_t)1 << 40, 1, idx, prob), EQ_ERR_INVALID_ARGUMENT);
        float bad[4] = { 1.0f, NAN, 2.0f, 0.0f };
        EXPECT(eq_topk(bad, 4, 1, idx, prob), EQ_ERR_INVALID_ARGUMENT);
        bad[1] = INFINITY;
        EXPECT(eq_topk(bad, 4, 2, idx, prob), EQ_ERR_INVALID_ARGUMENT);
        bad[1] = -INFINITY;
        EXPECT(eq_topk(bad, 4, 2, idx, prob), EQ_ERR_INVALID_ARGUMENT);
        EXPECT(eq_topk(lg, 6, 3, NULL, NULL), EQ_OK);
        EXPECT(eq_topk(lg, 6, 3, NULL, prob), EQ_OK);
        EXPECT(eq_topk(lg, 6, 6, idx, NULL), EQ_OK);
        CHECK(idx[0] == 1 && idx[1] == 4 && idx[2] == 3 && idx[3] == 0 && idx[4] == 2 && idx[5] == 5);
        EXPECT(eq_topk(lg, 6, 6, idx, prob), EQ_OK);
        double sum = 0, ref_sum = 0;
        for (int i = 0; i < 6; i++) { sum += prob[i]; ref_sum += exp((double)lg[i] - 3.0); }
        CHECK(fabs(sum - 1.0) < 1e-5);
        CHECK(fabs(prob[0] - 1.0 / ref_sum) < 1e-6);
        CHECK(prob[0] >= prob[1] && prob[1] >= prob[2] && prob[4] >= prob[5]);
        /* large count (heap path in the library) */
        size_t n = 5000;
        float* many = (float*)malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) many[i] = (float)((i * 7919u) % n) * 0.001f;
        EXPECT(eq_topk(many, n, 3, idx, prob), EQ_OK);
        CHECK(many[idx[0]] >= many[idx[1]] && many[idx[1]] >= many[idx[2]] && many[idx[0]] == (float)(n - 1) * 0.001f);
        free(many);
        /* model logits */
        EXPECT(eq_topk(g_ref, g_classes, (int32_t)g_classes, idx, prob), EQ_OK);
    }

    /* ---- eq_last_error is per thread; threads share the model and agree bit for bit */
    {
        EXPECT(eq_model_get_label(model, -5, &label), EQ_ERR_INVALID_ARGUMENT);
        char main_msg[256];
        snprintf(main_msg, sizeof main_msg, "%s", eq_last_error());
        enum { NT = 4 };
        pthread_t th[NT];
        thread_arg args[NT];
        for (int t = 0; t < NT; t++) {
            memset(&args[t], 0, sizeof args[t]);
            args[t].model = model;
            args[t].iterations = 40;
            CHECK(pthread_create(&th[t], NULL, run_thread, &args[t]) == 0);
        }
        for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
        for (int t = 0; t < NT; t++) {
            report(args[t].errors == 0 && args[t].mismatches == 0, __LINE__, "thread: 4 sessions on one model give identical logits", NULL);
            report(args[t].fresh_error[0] == '\0', __LINE__, "thread: eq_last_error() is \"\" on a new thread", args[t].fresh_error);
            report(args[t].own_error[0] != '\0' && strcmp(args[t].own_error, main_msg) != 0, __LINE__, "thread: own error message", args[t].own_error);
        }
        report(strcmp(eq_last_error(), main_msg) == 0, __LINE__, "main thread's eq_last_error() unchanged by other threads", eq_last_error());
    }

    /* ---- a model loaded from memory gives the same logits; the caller's buffer may be freed after the load */
    {
        uint8_t* copy = (uint8_t*)malloc(file_size);
        memcpy(copy, file_bytes, file_size);
        eq_model* mm = NULL;
        eq_session* ms = NULL;
        EXPECT(eq_model_load_memory(copy, file_size, &mm), EQ_OK);
        memset(copy, 0xEE, file_size);
        free(copy);
        EXPECT(eq_session_create(mm, NULL, &ms), EQ_OK);
        EXPECT(eq_session_run_u8(ms, g_pixels, H, W, C, out, g_classes), EQ_OK);
        CHECK(memcmp(out, g_ref, g_classes * sizeof(float)) == 0);
        EXPECT(eq_session_destroy(ms), EQ_OK);
        EXPECT(eq_model_destroy(mm), EQ_OK);
    }

    /* ---- destroying a model that still has sessions fails and leaves everything usable */
    EXPECT(eq_model_destroy(model), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_session_run_u8(session, g_pixels, H, W, C, out, g_classes), EQ_OK);
    CHECK(memcmp(out, g_ref, g_classes * sizeof(float)) == 0);
    EXPECT(eq_model_get_info(model, &info), EQ_OK);

    /* ---- eq_session_destroy */
    EXPECT(eq_session_destroy(NULL), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_destroy(FOREIGN_SESSION), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_destroy(STACK_SESSION), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_destroy((eq_session*)(void*)model), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_destroy(session), EQ_OK);
    EXPECT(eq_session_destroy(session), EQ_ERR_INVALID_HANDLE); /* double destroy */
    /* a destroyed session */
    EXPECT(eq_session_run_u8(session, g_pixels, H, W, C, out, g_classes), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_run_f32(session, g_input, g_in_count, out, g_classes), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_destroy(model), EQ_ERR_INVALID_ARGUMENT); /* session2 is still alive */
    EXPECT(eq_session_destroy(session2), EQ_OK);

    /* ---- eq_model_destroy */
    EXPECT(eq_model_destroy(NULL), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_destroy(FOREIGN_MODEL), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_destroy(STACK_MODEL), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_destroy((eq_model*)(void*)session2), EQ_ERR_INVALID_HANDLE); /* a destroyed session handle */
    EXPECT(eq_model_destroy(model), EQ_OK);
    EXPECT(eq_model_destroy(model), EQ_ERR_INVALID_HANDLE); /* double destroy */
    /* a destroyed model */
    EXPECT(eq_model_get_info(model, &info), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_get_label(model, 0, &label), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_create(model, NULL, &s), EQ_ERR_INVALID_HANDLE);

    /* ---- bit flips: every corrupted file is rejected with EQ_ERR_FORMAT, or (flip in padding) loads and runs */
    {
        size_t stride = fuzz_stride > 0 ? (size_t)fuzz_stride : (file_size < 16384 ? 1 : file_size / 4096 + 1);
        uint8_t* buf = (uint8_t*)malloc(file_size);
        memcpy(buf, file_bytes, file_size);
        int flips = 0, rejected = 0, loaded = 0, wrong = 0, run_bad = 0;
        for (size_t off = 0; off < file_size; off += (off < 64 ? 1 : stride)) {
            for (int bit = 0; bit < 8; bit += (off < 64 ? 1 : 7)) {
                buf[off] ^= (uint8_t)(1u << bit);
                eq_model* fm = NULL;
                eq_status st = eq_model_load_memory(buf, file_size, &fm);
                flips++;
                if (st == EQ_ERR_FORMAT) rejected++;
                else if (st == EQ_OK) {
                    loaded++;
                    eq_session* fs = NULL;
                    if (eq_session_create(fm, NULL, &fs) != EQ_OK ||
                        eq_session_run_u8(fs, g_pixels, H, W, C, out, g_classes) != EQ_OK ||
                        memcmp(out, g_ref, g_classes * sizeof(float)) != 0) {
                        run_bad++;
                        if (run_bad <= 5) printf("     flip at byte %zu bit %d loaded but runs differently: %s\n", off, bit, eq_last_error());
                    }
                    if (fs) eq_session_destroy(fs);
                    eq_model_destroy(fm);
                }
                else {
                    wrong++;
                    if (wrong <= 5) printf("     flip at byte %zu bit %d: %s: %s\n", off, bit, status_name(st), eq_last_error());
                }
                buf[off] ^= (uint8_t)(1u << bit);
            }
        }
        char detail[160];
        snprintf(detail, sizeof detail, "%d flips: %d EQ_ERR_FORMAT, %d loaded (padding), %d other status", flips, rejected, loaded, wrong);
        report(wrong == 0, __LINE__, "bit-flipped model files give EQ_ERR_FORMAT (or load when the flip is in padding)", detail);
        snprintf(detail, sizeof detail, "%d of %d loaded flipped files changed the logits", run_bad, loaded);
        report(run_bad == 0, __LINE__, "a flipped file that loads is the same model", detail);
        free(buf);
    }

    free(out);
    free(g_ref);
    free(g_input);
    free(g_pixels);
    free(file_bytes);
    printf("abi_check: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
