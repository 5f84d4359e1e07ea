/*
 * decoder_check — the decoder part of the EdgeQuant C ABI (ABI 3: eq_decoder_*, eq_sampler_*): good paths and misuse
 * (NULL pointers, NULL / foreign / destroyed / wrong-kind handles, ids outside the vocabulary, context overflow, bad
 * sampling options, double destroy), asserting the status documented in edgequant.h and a non-empty eq_last_error()
 * after every failure.
 *
 *   decoder_check [-v] LLAMA.eqm [GPT2.eqm] [--encoder ENCODER.eqm]
 *       LLAMA.eqm: tests/assets/decoder/llama converted (fp32: greedy generation must equal PyTorch's, expected.json;
 *       int8: generation, step-wise sampling and feed-argmax must agree). GPT2.eqm: tests/assets/decoder/gpt2 as fp32
 *       (its greedy continuation reaches the EOS id: generation stops there). ENCODER.eqm: any image/text model
 *       (cross-kind handle and load checks). Last line "decoder_check: N passed, M failed"; exit 0 only when M is 0.
 *
 *   decoder_check --generate MODEL.eqm --ids 1,2,3 [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]
 *                 [--repetition-penalty R] [--seed S] [--stop-ids 4,5] [--threads N] [--context N]
 *       eq_decoder_generate, printing the ids as `edgequant generate` does ("a,b,c").
 *
 *   decoder_check --logits-bits MODEL.eqm --ids 1,2,3
 *       The logits after the ids, one IEEE-754 hex word per line (cross-ISA comparisons).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgequant.h"
#include "check.h" /* examples/c: the checkers' shared assertions */

/* The last error message mentions `word`. */
#define CHECK_MSG(word) report(strstr(eq_last_error(), (word)) != NULL, __LINE__, "eq_last_error() mentions \"" word "\"", eq_last_error())

#define FOREIGN_DECODER ((eq_decoder*)(uintptr_t)0x1234)
#define FOREIGN_SESSION ((eq_decoder_session*)(uintptr_t)0x1234)
#define FOREIGN_SAMPLER ((eq_sampler*)(uintptr_t)0x1234)

/* tests/assets/decoder/llama/expected.json: the prompt and PyTorch's 24-token greedy continuation (FP32). */
static const int32_t LLAMA_PROMPT[] = { 50, 130, 297, 177, 26, 175, 45, 242, 303 };
static const int32_t LLAMA_GREEDY[] = { 37, 100, 259, 84, 84, 304, 227, 32, 187, 32, 187, 32, 187, 32, 187, 32, 187, 32, 3, 248, 215, 32, 206, 84 };
/* tests/assets/decoder/gpt2/expected.json: the greedy continuation reaches id 0, the model's EOS, after 9 tokens. */
static const int32_t GPT2_PROMPT[] = { 26, 240, 284, 182, 185, 237, 4, 251, 273 };
static const int32_t GPT2_GREEDY[] = { 40, 40, 40, 40, 40, 40, 40, 40, 40, 0 };
#define N_PROMPT 9
#define N_GREEDY 24

/* ---------------------------------------------------------------- generation callbacks */

typedef struct collect {
    int32_t ids[4096];
    int n;
    int stop_after; /* return non-zero once n reaches it (0: never) */
} collect;

static int32_t on_token(int32_t token, void* user)
{
    collect* c = (collect*)user;
    if (c->n < (int)(sizeof c->ids / sizeof c->ids[0])) c->ids[c->n] = token;
    c->n++;
    return c->stop_after > 0 && c->n >= c->stop_after;
}

static int same_ids(const int32_t* a, const int32_t* b, int n)
{
    return memcmp(a, b, (size_t)n * sizeof(int32_t)) == 0;
}

static void print_ids(const char* what, const int32_t* ids, int n)
{
    if (!g_verbose) return;
    printf("      %s:", what);
    for (int i = 0; i < n; i++) printf("%s%d", i ? "," : " ", (int)ids[i]);
    printf("\n");
}

static int argmax(const float* x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

/* ---------------------------------------------------------------- the checks */

static void check_load(const char* path, const char* encoder)
{
    eq_decoder* d = FOREIGN_DECODER;
    EXPECT(eq_decoder_load(NULL, &d), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_decoder_load(path, NULL), EQ_ERR_INVALID_ARGUMENT);
    d = FOREIGN_DECODER;
    EXPECT(eq_decoder_load("/nonexistent/dir/model.eqm", &d), EQ_ERR_IO);
    CHECK(d == NULL); /* out_decoder is cleared on failure */
    EXPECT(eq_decoder_load("", &d), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_decoder_load("/", &d), EQ_ERR_IO);
    /* a truncated decoder file */
    FILE* f = fopen(path, "rb");
    char tmp_path[] = "/tmp/eq_decoder_check_XXXXXX";
    int fd = mkstemp(tmp_path);
    CHECK(f != NULL && fd >= 0);
    if (f && fd >= 0) {
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        CHECK(n > 1000 && write(fd, buf, n / 2) == (ssize_t)(n / 2));
        d = FOREIGN_DECODER;
        EXPECT(eq_decoder_load(tmp_path, &d), EQ_ERR_FORMAT);
        CHECK(d == NULL);
    }
    if (f) fclose(f);
    if (fd >= 0) { close(fd); unlink(tmp_path); }
    /* the encoder API refuses a decoder file, and the decoder API an encoder file, with a message naming the other */
    eq_model* m = NULL;
    EXPECT(eq_model_load(path, &m), EQ_ERR_FORMAT);
    CHECK_MSG("decoder");
    if (encoder) {
        d = FOREIGN_DECODER;
        EXPECT(eq_decoder_load(encoder, &d), EQ_ERR_FORMAT);
        CHECK(d == NULL);
        CHECK_MSG("encoder");
    }
}

static void check_info(eq_decoder* d, eq_decoder_info* out)
{
    eq_decoder_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    EXPECT(eq_decoder_get_info(NULL, &info), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_get_info(FOREIGN_DECODER, &info), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_get_info(d, NULL), EQ_ERR_INVALID_ARGUMENT);
    info.size = 0;
    EXPECT(eq_decoder_get_info(d, &info), EQ_ERR_INVALID_ARGUMENT);
    info.size = sizeof info - 1;
    EXPECT(eq_decoder_get_info(d, &info), EQ_ERR_INVALID_ARGUMENT);
    info.size = sizeof info;
    EXPECT(eq_decoder_get_info(d, &info), EQ_OK);
    CHECK(info.size == sizeof info);
    CHECK(info.model_type && strcmp(info.model_type, "llama") == 0);
    CHECK(info.precision && (strcmp(info.precision, "fp32") == 0 || strcmp(info.precision, "int8") == 0));
    int fp32 = info.precision && strcmp(info.precision, "fp32") == 0;
    CHECK(fp32 ? info.weight_bits == 32 : (info.weight_bits == 8 || info.weight_bits == 4));
    /* tests/assets/decoder/llama/config.json */
    CHECK(info.vocab_size == 320 && info.context_trained == 128 && info.layers == 2 && info.hidden == 64);
    CHECK(info.heads == 4 && info.kv_heads == 2 && info.head_dim == 24 && info.mlp_dim == 176);
    CHECK(info.bos_id == 1 && info.eos_count == 1 && info.eos_ids != NULL && info.eos_ids[0] == 2);
    {
        struct { eq_decoder_info info; uint32_t tail[4]; } big;
        memset(&big, 0x5A, sizeof big);
        big.info.size = sizeof big;
        EXPECT(eq_decoder_get_info(d, &big.info), EQ_OK);
        CHECK(big.tail[0] == 0x5A5A5A5Au && big.tail[3] == 0x5A5A5A5Au && big.info.vocab_size == info.vocab_size);
    }
    *out = info;
}

static void check_sessions(eq_decoder* d, int vocab)
{
    eq_decoder_session* s = FOREIGN_SESSION;
    EXPECT(eq_decoder_session_create(NULL, 1, 0, &s), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_session_create(FOREIGN_DECODER, 1, 0, &s), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_session_create(d, 1, 0, NULL), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_decoder_session_create(d, 0, 0, &s), EQ_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    EXPECT(eq_decoder_session_create(d, -1, 0, &s), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_decoder_session_create(d, 257, 0, &s), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_decoder_session_create(d, 1, -1, &s), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_decoder_session_create(d, 1, INT32_MAX, &s), EQ_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);

    eq_decoder_session* session = NULL;
    EXPECT(eq_decoder_session_create(d, 1, 0, &session), EQ_OK);
    int32_t pos = -1, ctx = -1;
    EXPECT(eq_decoder_position(session, &pos, &ctx), EQ_OK);
    CHECK(pos == 0 && ctx == 128); /* 0 = the trained context (128 < 2048) */
    EXPECT(eq_decoder_position(session, &pos, NULL), EQ_OK);
    EXPECT(eq_decoder_position(session, NULL, &ctx), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_decoder_position(NULL, &pos, &ctx), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_position(FOREIGN_SESSION, &pos, &ctx), EQ_ERR_INVALID_HANDLE);
    /* wrong-kind handles */
    EXPECT(eq_decoder_position((eq_decoder_session*)(void*)d, &pos, &ctx), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_get_info((eq_decoder*)(void*)session, &(eq_decoder_info){ .size = sizeof(eq_decoder_info) }), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_session_destroy((eq_session*)(void*)session), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_model_destroy((eq_model*)(void*)d), EQ_ERR_INVALID_HANDLE);
    /* the decoder cannot go while a session lives */
    EXPECT(eq_decoder_destroy(d), EQ_ERR_INVALID_ARGUMENT);
    CHECK_MSG("session");

    /* ---- feed */
    float* logits = (float*)malloc((size_t)(vocab + 8) * sizeof(float));
    float* first = (float*)malloc((size_t)vocab * sizeof(float));
    float* stepped = (float*)malloc((size_t)vocab * sizeof(float));
    int32_t bad_ids[][2] = { { 5, -1 }, { 5, 320 }, { INT32_MAX, 5 }, { INT32_MIN, 5 } };
    EXPECT(eq_decoder_feed(NULL, LLAMA_PROMPT, N_PROMPT, logits, vocab), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_feed(FOREIGN_SESSION, LLAMA_PROMPT, N_PROMPT, logits, vocab), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_feed((eq_decoder_session*)(void*)d, LLAMA_PROMPT, N_PROMPT, logits, vocab), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_feed(session, NULL, N_PROMPT, logits, vocab), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_decoder_feed(session, LLAMA_PROMPT, 0, logits, vocab), EQ_ERR_INVALID_ARGUMENT);
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "eq_decoder_feed(ids {%d, %d})", (int)bad_ids[i][0], (int)bad_ids[i][1]);
        expect_status(__LINE__, what, eq_decoder_feed(session, bad_ids[i], 2, logits, vocab), EQ_ERR_INVALID_ARGUMENT);
        CHECK_MSG("vocabulary");
    }
    EXPECT(eq_decoder_feed(session, LLAMA_PROMPT, N_PROMPT, logits, vocab - 1), EQ_ERR_BUFFER_TOO_SMALL);
    EXPECT(eq_decoder_feed(session, LLAMA_PROMPT, N_PROMPT, logits, 0), EQ_ERR_BUFFER_TOO_SMALL);
    EXPECT(eq_decoder_position(session, &pos, NULL), EQ_OK);
    CHECK(pos == 0); /* no failed feed changed the session */
    for (int i = 0; i < vocab + 8; i++) logits[i] = -12345.0f;
    EXPECT(eq_decoder_feed(session, LLAMA_PROMPT, N_PROMPT, logits, vocab + 8), EQ_OK);
    CHECK(logits[vocab] == -12345.0f && logits[vocab + 7] == -12345.0f); /* the tail of a longer buffer is untouched */
    {
        int finite = 1;
        for (int i = 0; i < vocab; i++) finite &= isfinite(logits[i]) != 0;
        CHECK(finite);
    }
    memcpy(first, logits, (size_t)vocab * sizeof(float));
    EXPECT(eq_decoder_position(session, &pos, NULL), EQ_OK);
    CHECK(pos == N_PROMPT);
    /* reset: the same prompt gives the same logits bit for bit; token by token (M = 1 steps) the same within 1e-4 */
    EXPECT(eq_decoder_reset(NULL), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_reset(session), EQ_OK);
    EXPECT(eq_decoder_position(session, &pos, NULL), EQ_OK);
    CHECK(pos == 0);
    EXPECT(eq_decoder_feed(session, LLAMA_PROMPT, N_PROMPT, logits, vocab), EQ_OK);
    CHECK(memcmp(logits, first, (size_t)vocab * sizeof(float)) == 0);
    EXPECT(eq_decoder_reset(session), EQ_OK);
    for (int i = 0; i < N_PROMPT; i++) EXPECT(eq_decoder_feed(session, &LLAMA_PROMPT[i], 1, i + 1 == N_PROMPT ? stepped : NULL, vocab), EQ_OK);
    {
        float worst = 0;
        for (int i = 0; i < vocab; i++) {
            float dlt = fabsf(stepped[i] - first[i]) / (1.0f + fabsf(first[i]));
            if (dlt > worst) worst = dlt;
        }
        char detail[64];
        snprintf(detail, sizeof detail, "largest relative difference %g", (double)worst);
        report(worst <= 1e-4f, __LINE__, "prompt fed token by token = prompt fed at once (within 1e-4)", detail);
        CHECK(argmax(stepped, vocab) == argmax(first, vocab));
    }

    /* ---- a full context */
    eq_decoder_session* small = NULL;
    EXPECT(eq_decoder_session_create(d, 1, 16, &small), EQ_OK);
    EXPECT(eq_decoder_position(small, &pos, &ctx), EQ_OK);
    CHECK(pos == 0 && ctx == 16);
    EXPECT(eq_decoder_feed(small, LLAMA_PROMPT, N_PROMPT, NULL, 0), EQ_OK);
    EXPECT(eq_decoder_feed(small, LLAMA_GREEDY, 8, NULL, 0), EQ_ERR_INVALID_ARGUMENT); /* 9 + 8 > 16 */
    CHECK_MSG("context full");
    EXPECT(eq_decoder_position(small, &pos, NULL), EQ_OK);
    CHECK(pos == N_PROMPT);
    EXPECT(eq_decoder_feed(small, LLAMA_GREEDY, 7, logits, vocab), EQ_OK);
    EXPECT(eq_decoder_feed(small, LLAMA_GREEDY, 1, logits, vocab), EQ_ERR_INVALID_ARGUMENT);
    CHECK_MSG("context full");
    EXPECT(eq_decoder_position(small, &pos, NULL), EQ_OK);
    CHECK(pos == 16);
    EXPECT(eq_decoder_reset(small), EQ_OK);
    EXPECT(eq_decoder_feed(small, LLAMA_PROMPT, N_PROMPT, logits, vocab), EQ_OK); /* usable again after reset */
    CHECK(memcmp(logits, first, (size_t)vocab * sizeof(float)) == 0);
    EXPECT(eq_decoder_session_destroy(small), EQ_OK);
    EXPECT(eq_decoder_session_destroy(small), EQ_ERR_INVALID_HANDLE); /* double destroy: a status, never a crash */
    EXPECT(eq_decoder_feed(small, LLAMA_PROMPT, 1, NULL, 0), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_session_destroy(NULL), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_session_destroy(FOREIGN_SESSION), EQ_ERR_INVALID_HANDLE);

    EXPECT(eq_decoder_session_destroy(session), EQ_OK);
    free(logits);
    free(first);
    free(stepped);
}

static void check_sampler(int vocab)
{
    eq_sampling_options o;
    memset(&o, 0xFF, sizeof o);
    eq_sampling_default_options(&o);
    CHECK(o.size == sizeof o && o.temperature == 0.0f && o.top_k == 40 && o.top_p == 0.95f);
    CHECK(o.repetition_penalty == 1.0f && o.repetition_window == 64 && o.seed == 0);
    eq_sampling_default_options(NULL); /* no crash */

    eq_sampler* s = FOREIGN_SAMPLER;
    EXPECT(eq_sampler_create(vocab, &o, NULL), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_sampler_create(0, &o, &s), EQ_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    EXPECT(eq_sampler_create(-5, &o, &s), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_sampler_create((1 << 20) + 1, &o, &s), EQ_ERR_INVALID_ARGUMENT);
    {
        eq_sampling_options bad = o;
        bad.size = 0;
        EXPECT(eq_sampler_create(vocab, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        bad = o; bad.temperature = -1.0f;
        EXPECT(eq_sampler_create(vocab, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        CHECK_MSG("temperature");
        bad = o; bad.temperature = NAN;
        EXPECT(eq_sampler_create(vocab, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        bad = o; bad.temperature = INFINITY;
        EXPECT(eq_sampler_create(vocab, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        bad = o; bad.top_k = -1;
        EXPECT(eq_sampler_create(vocab, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        CHECK_MSG("top-k");
        bad = o; bad.top_p = 0.0f;
        EXPECT(eq_sampler_create(vocab, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        bad = o; bad.top_p = 1.5f;
        EXPECT(eq_sampler_create(vocab, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        bad = o; bad.repetition_penalty = 0.0f;
        EXPECT(eq_sampler_create(vocab, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        bad = o; bad.repetition_window = -1;
        EXPECT(eq_sampler_create(vocab, &bad, &s), EQ_ERR_INVALID_ARGUMENT);
        CHECK(s == NULL);
    }
    eq_sampler* greedy = NULL;
    EXPECT(eq_sampler_create(vocab, NULL, &greedy), EQ_OK); /* NULL options = defaults (greedy) */

    float* x = (float*)calloc((size_t)vocab, sizeof(float));
    int32_t tok = -1, hist[3] = { 7, 7, 9 };
    EXPECT(eq_sampler_next(NULL, x, vocab, NULL, 0, &tok), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_sampler_next(FOREIGN_SAMPLER, x, vocab, NULL, 0, &tok), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_sampler_next(greedy, NULL, vocab, NULL, 0, &tok), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_sampler_next(greedy, x, vocab, NULL, 0, NULL), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_sampler_next(greedy, x, vocab - 1, NULL, 0, &tok), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_sampler_next(greedy, x, vocab + 1, NULL, 0, &tok), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_sampler_next(greedy, x, vocab, NULL, 3, &tok), EQ_ERR_INVALID_ARGUMENT);
    x[11] = NAN;
    EXPECT(eq_sampler_next(greedy, x, vocab, NULL, 0, &tok), EQ_ERR_INVALID_ARGUMENT);
    x[11] = INFINITY;
    EXPECT(eq_sampler_next(greedy, x, vocab, NULL, 0, &tok), EQ_ERR_INVALID_ARGUMENT);
    x[11] = 0.0f;
    /* greedy: ties to the lower id; -inf bans a token */
    EXPECT(eq_sampler_next(greedy, x, vocab, NULL, 0, &tok), EQ_OK);
    CHECK(tok == 0);
    x[0] = -INFINITY;
    x[9] = 2.0f;
    x[7] = 2.0f;
    EXPECT(eq_sampler_next(greedy, x, vocab, NULL, 0, &tok), EQ_OK);
    CHECK(tok == 7);
    EXPECT(eq_sampler_next(greedy, x, vocab, hist, 3, &tok), EQ_OK); /* history ignored without a penalty */
    CHECK(tok == 7);
    /* a repetition penalty of 4 over {7, 9} makes 2.0 -> 0.5: the next best is id 1 (0 is banned) */
    eq_sampler* penal = NULL;
    {
        eq_sampling_options p = o;
        p.repetition_penalty = 4.0f;
        EXPECT(eq_sampler_create(vocab, &p, &penal), EQ_OK);
        x[1] = 1.0f;
        EXPECT(eq_sampler_next(penal, x, vocab, hist, 3, &tok), EQ_OK);
        CHECK(tok == 1);
        EXPECT(eq_sampler_next(penal, x, vocab, hist, 1, &tok), EQ_OK); /* only id 7 seen: 9 wins */
        CHECK(tok == 9);
        x[1] = 0.0f;
    }
    /* seeded sampling: the same seed gives the same draws; never a banned (-inf) token */
    {
        eq_sampling_options t = o;
        t.temperature = 1.0f;
        t.top_k = 0;
        t.top_p = 1.0f;
        t.seed = 42;
        eq_sampler *a = NULL, *b = NULL;
        EXPECT(eq_sampler_create(vocab, &t, &a), EQ_OK);
        EXPECT(eq_sampler_create(vocab, &t, &b), EQ_OK);
        for (int i = 0; i < vocab; i++) x[i] = (float)((i * 37) % 11) * 0.25f;
        for (int i = 0; i < vocab; i += 3) x[i] = -INFINITY;
        int same = 1, banned = 0, distinct = 0, seen[64] = { 0 };
        for (int i = 0; i < 200; i++) {
            int32_t ta = -1, tb = -2;
            if (eq_sampler_next(a, x, vocab, NULL, 0, &ta) != EQ_OK || eq_sampler_next(b, x, vocab, NULL, 0, &tb) != EQ_OK) { same = 0; break; }
            same &= ta == tb;
            banned += ta < 0 || ta >= vocab || ta % 3 == 0;
            if (ta >= 0 && ta < 64 && !seen[ta]) { seen[ta] = 1; distinct++; }
        }
        CHECK(same);
        CHECK(banned == 0);
        CHECK(distinct > 5); /* it does sample */
        EXPECT(eq_sampler_destroy(a), EQ_OK);
        EXPECT(eq_sampler_destroy(b), EQ_OK);
    }
    /* wrong-kind handles and double destroy */
    EXPECT(eq_sampler_destroy((eq_sampler*)(void*)FOREIGN_SESSION), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_session_destroy((eq_decoder_session*)(void*)greedy), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_sampler_destroy(penal), EQ_OK);
    EXPECT(eq_sampler_destroy(penal), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_sampler_next(penal, x, vocab, NULL, 0, &tok), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_sampler_destroy(NULL), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_sampler_destroy(greedy), EQ_OK);
    free(x);
}

static void check_generate(eq_decoder* d, int vocab, int fp32)
{
    eq_decoder_session *s = NULL, *s2 = NULL;
    eq_sampler *greedy = NULL, *other = NULL;
    EXPECT(eq_decoder_session_create(d, 1, 0, &s), EQ_OK);
    EXPECT(eq_decoder_session_create(d, 2, 0, &s2), EQ_OK);
    EXPECT(eq_sampler_create(vocab, NULL, &greedy), EQ_OK);
    EXPECT(eq_sampler_create(100, NULL, &other), EQ_OK);
    if (!s || !s2 || !greedy || !other) return;
    static collect c, c2;
    int32_t n = -1, pos = -1;

    /* greedy generation; FP32 equals PyTorch's */
    memset(&c, 0, sizeof c);
    EXPECT(eq_decoder_generate(s, greedy, LLAMA_PROMPT, N_PROMPT, N_GREEDY, NULL, 0, on_token, &c, &n), EQ_OK);
    /* N_GREEDY tokens, or fewer ending with the EOS id (2): quantized weights change the continuation */
    int nref = c.n < N_GREEDY ? c.n : N_GREEDY;
    CHECK(n == c.n && nref >= 1 && (nref == N_GREEDY || c.ids[nref - 1] == 2));
    print_ids("greedy", c.ids, c.n);
    if (fp32) report(c.n == N_GREEDY && same_ids(c.ids, LLAMA_GREEDY, N_GREEDY), __LINE__, "FP32 greedy generation = PyTorch's (expected.json)", NULL);
    EXPECT(eq_decoder_position(s, &pos, NULL), EQ_OK);
    CHECK(pos == N_PROMPT + nref - 1); /* the last token is not fed */
    int32_t ref[N_GREEDY];
    memcpy(ref, c.ids, sizeof ref);
#define MIN_REF(k) ((k) < nref ? (k) : nref)

    /* a 2-thread session generates the same tokens */
    memset(&c2, 0, sizeof c2);
    EXPECT(eq_decoder_generate(s2, greedy, LLAMA_PROMPT, N_PROMPT, N_GREEDY, NULL, 0, on_token, &c2, NULL), EQ_OK);
    CHECK(c2.n == nref && same_ids(c2.ids, ref, nref));

    /* step-wise: eq_decoder_feed + eq_sampler_next, and plain argmax of the fed logits */
    {
        float* logits = (float*)malloc((size_t)vocab * sizeof(float));
        int32_t hist[N_PROMPT + N_GREEDY], steps[N_GREEDY], argmaxes[N_GREEDY];
        memcpy(hist, LLAMA_PROMPT, sizeof LLAMA_PROMPT);
        EXPECT(eq_decoder_reset(s), EQ_OK);
        EXPECT(eq_decoder_feed(s, LLAMA_PROMPT, N_PROMPT, logits, vocab), EQ_OK);
        int ok = 1;
        for (int i = 0; i < nref && ok; i++) {
            argmaxes[i] = argmax(logits, vocab);
            ok &= eq_sampler_next(greedy, logits, vocab, hist, N_PROMPT + i, &steps[i]) == EQ_OK;
            hist[N_PROMPT + i] = steps[i];
            if (i + 1 < nref) ok &= eq_decoder_feed(s, &steps[i], 1, logits, vocab) == EQ_OK;
        }
        CHECK(ok);
        CHECK(same_ids(steps, ref, nref));
        CHECK(same_ids(argmaxes, ref, nref));
        free(logits);
    }

    /* continuation: k tokens, then the k-th as the next prompt for the others = all at once */
    if (nref >= 2) {
        int k = nref / 2;
        EXPECT(eq_decoder_reset(s), EQ_OK);
        memset(&c, 0, sizeof c);
        EXPECT(eq_decoder_generate(s, greedy, LLAMA_PROMPT, N_PROMPT, k, NULL, 0, on_token, &c, &n), EQ_OK);
        CHECK(n == k);
        int32_t last = c.ids[k - 1];
        EXPECT(eq_decoder_generate(s, greedy, &last, 1, N_GREEDY - k, NULL, 0, on_token, &c, &n), EQ_OK);
        CHECK(n == nref - k && c.n == nref && same_ids(c.ids, ref, nref));
    }
    /* prompt_count 0: continue from the last eq_decoder_feed */
    EXPECT(eq_decoder_reset(s), EQ_OK);
    EXPECT(eq_decoder_generate(s, greedy, NULL, 0, 5, NULL, 0, on_token, &c, &n), EQ_ERR_INVALID_ARGUMENT); /* nothing fed */
    CHECK(n == 0);
    CHECK_MSG("empty");
    EXPECT(eq_decoder_feed(s, LLAMA_PROMPT, N_PROMPT, NULL, 0), EQ_OK);
    memset(&c, 0, sizeof c);
    EXPECT(eq_decoder_generate(s, greedy, NULL, 0, N_GREEDY, NULL, 0, on_token, &c, &n), EQ_OK);
    CHECK(c.n == nref && same_ids(c.ids, ref, nref));

    /* stop ids: the stop token is reported and counted */
    {
        int32_t stop[2] = { 999999, ref[MIN_REF(6) - 1] };
        int first = 0;
        while (ref[first] != stop[1]) first++;
        EXPECT(eq_decoder_reset(s), EQ_OK);
        memset(&c, 0, sizeof c);
        EXPECT(eq_decoder_generate(s, greedy, LLAMA_PROMPT, N_PROMPT, N_GREEDY, stop, 2, on_token, &c, &n), EQ_OK);
        CHECK(n == first + 1 && c.n == first + 1 && same_ids(c.ids, ref, first + 1));
    }
    /* the callback stops early */
    EXPECT(eq_decoder_reset(s), EQ_OK);
    memset(&c, 0, sizeof c);
    c.stop_after = 3;
    EXPECT(eq_decoder_generate(s, greedy, LLAMA_PROMPT, N_PROMPT, N_GREEDY, NULL, 0, on_token, &c, &n), EQ_OK);
    CHECK(n == MIN_REF(3) && c.n == MIN_REF(3) && same_ids(c.ids, ref, MIN_REF(3)));
    EXPECT(eq_decoder_position(s, &pos, NULL), EQ_OK);
    CHECK(pos == N_PROMPT + MIN_REF(3) - 1);
    /* no callback, no out_generated */
    EXPECT(eq_decoder_reset(s), EQ_OK);
    EXPECT(eq_decoder_generate(s, greedy, LLAMA_PROMPT, N_PROMPT, 4, NULL, 0, NULL, NULL, &n), EQ_OK);
    CHECK(n == MIN_REF(4));
    EXPECT(eq_decoder_generate(s, greedy, LLAMA_PROMPT, N_PROMPT, 4, NULL, 0, NULL, NULL, NULL), EQ_OK);

    /* misuse: nothing is fed, n is 0 */
    EXPECT(eq_decoder_reset(s), EQ_OK);
    int32_t bad_prompt[3] = { 5, 320, 6 };
    EXPECT(eq_decoder_generate(NULL, greedy, LLAMA_PROMPT, N_PROMPT, 4, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_generate(FOREIGN_SESSION, greedy, LLAMA_PROMPT, N_PROMPT, 4, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_generate(s, NULL, LLAMA_PROMPT, N_PROMPT, 4, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_generate(s, (eq_sampler*)(void*)s2, LLAMA_PROMPT, N_PROMPT, 4, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_generate(s, greedy, NULL, N_PROMPT, 4, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_decoder_generate(s, greedy, LLAMA_PROMPT, N_PROMPT, 4, NULL, 2, NULL, NULL, &n), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_decoder_generate(s, greedy, LLAMA_PROMPT, N_PROMPT, 0, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_decoder_generate(s, greedy, LLAMA_PROMPT, N_PROMPT, -1, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_ARGUMENT);
    EXPECT(eq_decoder_generate(s, other, LLAMA_PROMPT, N_PROMPT, 4, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_ARGUMENT);
    CHECK_MSG("vocabulary");
    EXPECT(eq_decoder_generate(s, greedy, bad_prompt, 3, 4, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_ARGUMENT);
    CHECK_MSG("vocabulary");
    EXPECT(eq_decoder_generate(s, greedy, LLAMA_PROMPT, N_PROMPT, 128 - N_PROMPT + 2, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_ARGUMENT);
    CHECK_MSG("context full");
    CHECK(n == 0);
    EXPECT(eq_decoder_position(s, &pos, NULL), EQ_OK);
    CHECK(pos == 0);
    /* exactly the whole context (16): the prompt, then max_tokens - 1 fed tokens */
    if (nref >= 8) {
        eq_decoder_session* small = NULL;
        EXPECT(eq_decoder_session_create(d, 1, 16, &small), EQ_OK);
        EXPECT(eq_decoder_generate(small, greedy, LLAMA_PROMPT, N_PROMPT, 9, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_ARGUMENT);
        CHECK_MSG("context full");
        memset(&c, 0, sizeof c);
        EXPECT(eq_decoder_generate(small, greedy, LLAMA_PROMPT, N_PROMPT, 8, NULL, 0, on_token, &c, &n), EQ_OK);
        CHECK(n == 8 && same_ids(c.ids, ref, 8));
        EXPECT(eq_decoder_position(small, &pos, NULL), EQ_OK);
        CHECK(pos == 16);
        /* the 8th token is not in the cache: continuing needs it as the prompt, which no longer fits */
        EXPECT(eq_decoder_generate(small, greedy, NULL, 0, 1, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_ARGUMENT);
        CHECK_MSG("last token");
        EXPECT(eq_decoder_generate(small, greedy, &c.ids[7], 1, 1, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_ARGUMENT);
        CHECK_MSG("context full");
        /* a full cache after eq_decoder_feed: one more token needs no feed, two do */
        EXPECT(eq_decoder_reset(small), EQ_OK);
        EXPECT(eq_decoder_feed(small, LLAMA_PROMPT, N_PROMPT, NULL, 0), EQ_OK);
        EXPECT(eq_decoder_feed(small, ref, 7, NULL, 0), EQ_OK);
        EXPECT(eq_decoder_generate(small, greedy, NULL, 0, 2, NULL, 0, NULL, NULL, &n), EQ_ERR_INVALID_ARGUMENT);
        CHECK_MSG("context full");
        EXPECT(eq_decoder_generate(small, greedy, NULL, 0, 1, NULL, 0, on_token, &c, &n), EQ_OK);
        CHECK(n == 1 && c.n == 9 && c.ids[8] == ref[7]);
        EXPECT(eq_decoder_session_destroy(small), EQ_OK);
    }

    /* seeded sampling: two sessions with equal samplers generate the same tokens */
    {
        eq_sampling_options o;
        eq_sampling_default_options(&o);
        o.temperature = 0.9f;
        o.top_k = 20;
        o.top_p = 0.9f;
        o.repetition_penalty = 1.3f;
        o.seed = 1234;
        eq_sampler *a = NULL, *b = NULL;
        EXPECT(eq_sampler_create(vocab, &o, &a), EQ_OK);
        EXPECT(eq_sampler_create(vocab, &o, &b), EQ_OK);
        EXPECT(eq_decoder_reset(s), EQ_OK);
        EXPECT(eq_decoder_reset(s2), EQ_OK);
        memset(&c, 0, sizeof c);
        memset(&c2, 0, sizeof c2);
        EXPECT(eq_decoder_generate(s, a, LLAMA_PROMPT, N_PROMPT, 40, NULL, 0, on_token, &c, NULL), EQ_OK);
        EXPECT(eq_decoder_generate(s2, b, LLAMA_PROMPT, N_PROMPT, 40, NULL, 0, on_token, &c2, NULL), EQ_OK);
        CHECK(c.n == c2.n && c.n > 0 && same_ids(c.ids, c2.ids, c.n));
        print_ids("sampled", c.ids, c.n);
        EXPECT(eq_sampler_destroy(a), EQ_OK);
        EXPECT(eq_sampler_destroy(b), EQ_OK);
    }

    EXPECT(eq_decoder_session_destroy(s), EQ_OK);
    EXPECT(eq_decoder_session_destroy(s2), EQ_OK);
    EXPECT(eq_sampler_destroy(greedy), EQ_OK);
    EXPECT(eq_sampler_destroy(other), EQ_OK);
}

/* The GPT-2 model's greedy continuation reaches its EOS id: generation stops there, the EOS reported and counted. */
static void check_eos(const char* path)
{
    eq_decoder* d = NULL;
    eq_decoder_info info = { .size = sizeof(eq_decoder_info) };
    EXPECT(eq_decoder_load(path, &d), EQ_OK);
    if (!d) return;
    EXPECT(eq_decoder_get_info(d, &info), EQ_OK);
    CHECK(strcmp(info.model_type, "gpt2") == 0 && info.eos_count == 1 && info.eos_ids[0] == 0 && info.context_trained == 64);
    eq_decoder_session* s = NULL;
    EXPECT(eq_decoder_session_create(d, 1, 65, &s), EQ_ERR_INVALID_ARGUMENT); /* learned positions: at most the trained 64 */
    EXPECT(eq_decoder_session_create(d, 1, 0, &s), EQ_OK);
    eq_sampler* g = NULL;
    EXPECT(eq_sampler_create(info.vocab_size, NULL, &g), EQ_OK);
    static collect c;
    int32_t n = -1;
    memset(&c, 0, sizeof c);
    EXPECT(eq_decoder_generate(s, g, GPT2_PROMPT, N_PROMPT, 24, NULL, 0, on_token, &c, &n), EQ_OK);
    print_ids("gpt2 greedy", c.ids, c.n);
    CHECK(n == 10 && c.n == 10 && same_ids(c.ids, GPT2_GREEDY, 10));
    EXPECT(eq_decoder_session_destroy(s), EQ_OK);
    EXPECT(eq_sampler_destroy(g), EQ_OK);
    EXPECT(eq_decoder_destroy(d), EQ_OK);
}

/* ---------------------------------------------------------------- --generate / --logits-bits */

static int parse_ids(const char* s, int32_t* ids, int cap)
{
    int n = 0;
    while (*s && n < cap) {
        char* end;
        long v = strtol(s, &end, 10);
        if (end == s) return -1;
        ids[n++] = (int32_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

static int32_t print_token(int32_t token, void* user)
{
    int* count = (int*)user;
    printf((*count)++ ? ",%d" : "%d", (int)token);
    return 0;
}

static int tool(int argc, char** argv)
{
    const char *mode = argv[1], *path = NULL, *ids_arg = NULL, *stop_arg = NULL;
    int max_tokens = 64, threads = 1, context = 0;
    eq_sampling_options o;
    eq_sampling_default_options(&o);
    for (int i = 2; i < argc; i++) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--ids") && v) ids_arg = argv[++i];
        else if (!strcmp(a, "--stop-ids") && v) stop_arg = argv[++i];
        else if (!strcmp(a, "--max-tokens") && v) max_tokens = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--context") && v) context = atoi(argv[++i]);
        else if (!strcmp(a, "--temperature") && v) o.temperature = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--top-k") && v) o.top_k = atoi(argv[++i]);
        else if (!strcmp(a, "--top-p") && v) o.top_p = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--repetition-penalty") && v) o.repetition_penalty = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--seed") && v) o.seed = strtoull(argv[++i], NULL, 10);
        else if (!path && a[0] != '-') path = a;
        else { fprintf(stderr, "decoder_check %s: bad argument %s\n", mode, a); return 2; }
    }
    static int32_t ids[65536], stops[1024];
    int n = ids_arg ? parse_ids(ids_arg, ids, 65536) : -1, n_stop = stop_arg ? parse_ids(stop_arg, stops, 1024) : 0;
    if (!path || n < 1 || n_stop < 0) { fprintf(stderr, "decoder_check %s: needs MODEL.eqm --ids 1,2,3\n", mode); return 2; }
    eq_decoder* d = NULL;
    eq_decoder_session* s = NULL;
    eq_sampler* smp = NULL;
    eq_decoder_info info = { .size = sizeof(eq_decoder_info) };
    eq_status st;
    if ((st = eq_decoder_load(path, &d)) != EQ_OK || (st = eq_decoder_get_info(d, &info)) != EQ_OK
        || (st = eq_decoder_session_create(d, threads, context, &s)) != EQ_OK) {
        fprintf(stderr, "decoder_check: %s (status %d)\n", eq_last_error(), (int)st);
        return 1;
    }
    if (!strcmp(mode, "--logits-bits")) {
        float* logits = (float*)malloc((size_t)info.vocab_size * sizeof(float));
        if ((st = eq_decoder_feed(s, ids, (size_t)n, logits, (size_t)info.vocab_size)) != EQ_OK) {
            fprintf(stderr, "decoder_check: eq_decoder_feed: %s (status %d)\n", eq_last_error(), (int)st);
            return 1;
        }
        for (int i = 0; i < info.vocab_size; i++) {
            uint32_t bits;
            memcpy(&bits, &logits[i], 4);
            printf("%08x\n", bits);
        }
        free(logits);
    } else {
        int count = 0;
        int32_t generated = 0;
        if ((st = eq_sampler_create(info.vocab_size, &o, &smp)) != EQ_OK
            || (st = eq_decoder_generate(s, smp, ids, (size_t)n, max_tokens, stops, (size_t)n_stop, print_token, &count, &generated)) != EQ_OK) {
            fprintf(stderr, "decoder_check: %s (status %d)\n", eq_last_error(), (int)st);
            return 1;
        }
        printf("\n");
        eq_sampler_destroy(smp);
    }
    eq_decoder_session_destroy(s);
    eq_decoder_destroy(d);
    return 0;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char** argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--generate") || !strcmp(argv[1], "--logits-bits"))) return tool(argc, argv);
    const char *llama = NULL, *gpt2 = NULL, *encoder = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v")) g_verbose = 1;
        else if (!strcmp(argv[i], "--encoder") && i + 1 < argc) encoder = argv[++i];
        else if (!llama) llama = argv[i];
        else if (!gpt2) gpt2 = argv[i];
        else { fprintf(stderr, "usage: decoder_check [-v] LLAMA.eqm [GPT2.eqm] [--encoder ENCODER.eqm]\n"); return 2; }
    }
    if (!llama) { fprintf(stderr, "usage: decoder_check [-v] LLAMA.eqm [GPT2.eqm] [--encoder ENCODER.eqm]\n"); return 2; }

    CHECK(eq_abi_version() == EQ_ABI_VERSION && EQ_ABI_VERSION == 3);
    check_load(llama, encoder);

    eq_decoder* d = NULL;
    EXPECT(eq_decoder_load(llama, &d), EQ_OK);
    if (!d) { printf("decoder_check: %d passed, %d failed (cannot continue without a model)\n", g_pass, g_fail + 1); return 1; }
    if (encoder) {
        eq_model* m = NULL;
        EXPECT(eq_model_load(encoder, &m), EQ_OK);
        if (m) {
            eq_decoder_info di = { .size = sizeof(eq_decoder_info) };
            eq_decoder_session* s = NULL;
            EXPECT(eq_decoder_get_info((eq_decoder*)(void*)m, &di), EQ_ERR_INVALID_HANDLE);
            EXPECT(eq_decoder_session_create((eq_decoder*)(void*)m, 1, 0, &s), EQ_ERR_INVALID_HANDLE);
            EXPECT(eq_decoder_destroy((eq_decoder*)(void*)m), EQ_ERR_INVALID_HANDLE);
            EXPECT(eq_session_create((eq_model*)(void*)d, NULL, (eq_session**)(void*)&s), EQ_ERR_INVALID_HANDLE);
            EXPECT(eq_model_destroy(m), EQ_OK);
        }
    }
    eq_decoder_info info;
    check_info(d, &info);
    int vocab = info.vocab_size > 0 ? info.vocab_size : 320;
    check_sessions(d, vocab);
    check_sampler(vocab);
    check_generate(d, vocab, strcmp(info.precision ? info.precision : "", "fp32") == 0);
    if (gpt2) check_eos(gpt2);

    EXPECT(eq_decoder_destroy(d), EQ_OK);
    EXPECT(eq_decoder_destroy(d), EQ_ERR_INVALID_HANDLE); /* double destroy: a status, never a crash */
    EXPECT(eq_decoder_get_info(d, &info), EQ_ERR_INVALID_HANDLE);
    EXPECT(eq_decoder_destroy(NULL), EQ_ERR_INVALID_HANDLE);

    printf("decoder_check: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
