/*
 * classify — classify one binary PGM/PPM image with an EdgeQuant model through the C ABI.
 *
 *   classify [--top K] [--logits] [--f32] [--memory] MODEL.eqm IMAGE.pgm
 *
 *   (default)  top-K labels (K = 5, at most the number of classes) with softmax probabilities from eq_topk:
 *              "<label> p=<prob> logit=<logit>", 4 decimals, the same layout as `edgequant run`
 *   --logits   every logit, one per line, printed with %.9g (round-trips a float exactly)
 *   --bits     every logit as its IEEE-754 bit pattern, 8 hex digits per line (compared with `edgequant run --bits`)
 *   --threads N  session threads (default 1)
 *   --f32      preprocess the pixels here and call eq_session_run_f32 instead of eq_session_run_u8
 *   --memory   read the file and load it with eq_model_load_memory instead of eq_model_load
 *
 * Every status is checked; on failure the message of eq_last_error() is printed and the exit code is 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgequant.h"
#include "pnm.h"

static int fail(const char* what, eq_status st)
{
    fprintf(stderr, "classify: %s failed (status %d): %s\n", what, (int)st, eq_last_error());
    return 1;
}

/* Prints a UTF-8 label left-aligned in `width` columns (counting code points, as `edgequant run` does). */
static void print_padded(const char* s, int width)
{
    int n = 0;
    for (const unsigned char* p = (const unsigned char*)s; *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    fputs(s, stdout);
    for (; n < width; n++) putchar(' ');
}

static int usage(void)
{
    fprintf(stderr, "usage: classify [--top K] [--logits] [--bits] [--threads N] [--f32] [--memory] MODEL.eqm IMAGE.pgm\n");
    return 2;
}

int main(int argc, char** argv)
{
    const char* model_path = NULL;
    const char* image_path = NULL;
    int top = 5, print_logits = 0, print_bits = 0, threads = 1, use_f32 = 0, use_memory = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--top") == 0 && i + 1 < argc) {
            char* end;
            long k = strtol(argv[++i], &end, 10);
            if (*end || k < 1 || k > 1000000) return usage();
            top = (int)k;
        }
        else if (strcmp(argv[i], "--logits") == 0) print_logits = 1;
        else if (strcmp(argv[i], "--bits") == 0) print_bits = 1;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--f32") == 0) use_f32 = 1;
        else if (strcmp(argv[i], "--memory") == 0) use_memory = 1;
        else if (argv[i][0] == '-' && argv[i][1] != '\0') return usage();
        else if (!model_path) model_path = argv[i];
        else if (!image_path) image_path = argv[i];
        else return usage();
    }
    if (!model_path || !image_path) return usage();
    if (eq_abi_version() != EQ_ABI_VERSION) {
        fprintf(stderr, "classify: library ABI %d, header ABI %d\n", (int)eq_abi_version(), EQ_ABI_VERSION);
        return 1;
    }

    char err[512];
    pnm_image img;
    if (pnm_read(image_path, &img, err, sizeof err) != 0) {
        fprintf(stderr, "classify: %s\n", err);
        return 1;
    }

    int rc = 1;
    eq_status st;
    eq_model* model = NULL;
    eq_session* session = NULL;
    float* logits = NULL;
    float* input = NULL;
    int32_t* indices = NULL;
    float* probs = NULL;

    if (use_memory) {
        uint8_t* bytes = NULL;
        size_t size = 0;
        if (pnm_read_file(model_path, &bytes, &size) != 0) {
            fprintf(stderr, "classify: %s: cannot read file\n", model_path);
            goto done;
        }
        st = eq_model_load_memory(bytes, size, &model);
        free(bytes); /* the library copies the buffer */
        if (st != EQ_OK) { fail("eq_model_load_memory", st); goto done; }
    }
    else if ((st = eq_model_load(model_path, &model)) != EQ_OK) { fail("eq_model_load", st); goto done; }

    eq_model_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if ((st = eq_model_get_info(model, &info)) != EQ_OK) { fail("eq_model_get_info", st); goto done; }

    eq_session_options options;
    eq_session_default_options(&options);
    options.threads = threads;
    if ((st = eq_session_create(model, &options, &session)) != EQ_OK) { fail("eq_session_create", st); goto done; }

    size_t classes = (size_t)info.num_classes;
    logits = (float*)calloc(classes, sizeof(float));
    if (!logits) { fprintf(stderr, "classify: out of memory\n"); goto done; }

    if (use_f32) {
        /* The model's preprocessing, exactly as the engine applies it in eq_session_run_u8:
         * x[c, y, x] = (pixel * pixel_scale - mean[c]) * (1 / std[c]) in float arithmetic. */
        if (img.channels != info.channels || img.height != info.height || img.width != info.width) {
            fprintf(stderr, "classify: image is %dx%d with %d channel(s); the model expects %dx%d with %d channel(s)\n",
                    img.width, img.height, img.channels, (int)info.width, (int)info.height, (int)info.channels);
            goto done;
        }
        size_t plane = (size_t)img.height * (size_t)img.width;
        input = (float*)malloc(plane * (size_t)img.channels * sizeof(float));
        if (!input) { fprintf(stderr, "classify: out of memory\n"); goto done; }
        for (int c = 0; c < img.channels; c++) {
            float mean = info.mean[c < 4 ? c : 3], inv_std = 1.0f / info.std[c < 4 ? c : 3];
            for (size_t i = 0; i < plane; i++) {
                float scaled = (float)img.pixels[i * (size_t)img.channels + (size_t)c] * info.pixel_scale;
                float centered = scaled - mean;
                input[(size_t)c * plane + i] = centered * inv_std;
            }
        }
        st = eq_session_run_f32(session, input, plane * (size_t)img.channels, logits, classes);
        if (st != EQ_OK) { fail("eq_session_run_f32", st); goto done; }
    }
    else {
        st = eq_session_run_u8(session, img.pixels, img.height, img.width, img.channels, logits, classes);
        if (st != EQ_OK) { fail("eq_session_run_u8", st); goto done; }
    }

    if (print_bits) {
        for (size_t i = 0; i < classes; i++) {
            uint32_t u;
            memcpy(&u, &logits[i], sizeof u);
            printf("%08x\n", u);
        }
    } else if (print_logits) {
        for (size_t i = 0; i < classes; i++) printf("%.9g\n", (double)logits[i]);
    }
    else {
        int k = top < info.num_classes ? top : info.num_classes;
        indices = (int32_t*)calloc((size_t)k, sizeof(int32_t));
        probs = (float*)calloc((size_t)k, sizeof(float));
        if (!indices || !probs) { fprintf(stderr, "classify: out of memory\n"); goto done; }
        if ((st = eq_topk(logits, classes, k, indices, probs)) != EQ_OK) { fail("eq_topk", st); goto done; }
        for (int r = 0; r < k; r++) {
            const char* label = NULL;
            if ((st = eq_model_get_label(model, indices[r], &label)) != EQ_OK) { fail("eq_model_get_label", st); goto done; }
            print_padded(label, 16);
            printf(" p=%.4f  logit=%.4f\n", (double)probs[r], (double)logits[indices[r]]);
        }
    }
    rc = 0;

done:
    if (session && (st = eq_session_destroy(session)) != EQ_OK) rc = fail("eq_session_destroy", st);
    if (model && (st = eq_model_destroy(model)) != EQ_OK) rc = fail("eq_model_destroy", st);
    free(probs);
    free(indices);
    free(input);
    free(logits);
    pnm_free(&img);
    if (fflush(stdout) != 0) rc = 1;
    return rc;
}
