/*
 * edgequant.h — C ABI of the EdgeQuant INT8 transformer engine (libedgequant.so).
 *
 * Error model: every function returns an eq_status (EQ_OK = 0, negative = error class). After an error,
 * eq_last_error() returns a message for the calling thread (valid until that thread's next EdgeQuant call).
 * No function aborts the process on bad input: null or unknown handles, double destroy, wrong sizes and
 * NaN inputs all return a status.
 *
 * Ownership: handles are created by the create and load functions and released by the matching destroy; strings returned
 * by the library are owned by it (model strings live as long as the model). Caller buffers are only read or
 * written during the call.
 *
 * Threads: an eq_model is immutable and may be shared by any number of threads; create/destroy calls are
 * serialized internally (a destroy racing a session create fails cleanly, never leaves a dangling session). An eq_session is used by one
 * thread at a time; create one session per thread. A model must outlive its sessions.
 */
#ifndef EDGEQUANT_H
#define EDGEQUANT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EQ_ABI_VERSION 2

typedef enum eq_status {
    EQ_OK = 0,
    EQ_ERR_INVALID_ARGUMENT = -1,  /* null pointer, wrong size/shape, non-finite input */
    EQ_ERR_INVALID_HANDLE = -2,    /* null, unknown or already destroyed handle */
    EQ_ERR_IO = -3,                /* file cannot be read */
    EQ_ERR_FORMAT = -4,            /* corrupted, truncated or unsupported model file; from a run: the model computed NaN/inf from a finite input (crafted weights) */
    EQ_ERR_BUFFER_TOO_SMALL = -5,  /* output buffer shorter than required */
    EQ_ERR_INTERNAL = -99          /* unexpected failure; see eq_last_error() */
} eq_status;

typedef struct eq_model eq_model;      /* opaque */
typedef struct eq_session eq_session;  /* opaque */

/* Model description. Strings are owned by the model. */
typedef struct eq_model_info {
    size_t size;                 /* set to sizeof(eq_model_info) before the call */
    const char* architecture;    /* "vit" or "bert" (BERT-family text encoder) */
    const char* precision;       /* "int8" or "fp32" */
    const char* input_name;      /* "input": float32 [batch, channels, height, width] */
    const char* output_name;     /* "logits": float32 [batch, num_classes] */
    int32_t channels, height, width;
    int32_t num_classes;         /* outputs per input: classes, or the hidden size for text embedding models */
    int32_t quantized;           /* 1 = int8 weights and integer kernels, 0 = fp32 reference path */
    float pixel_scale;           /* preprocessing of 8-bit pixels: (pixel * pixel_scale - mean[c]) / std[c] */
    float mean[4];
    float std[4];
    /* ABI 2 (text models; left untouched when size is that of ABI 1) */
    int32_t is_text;             /* 1: run with eq_session_run_tokens / eq_session_run_text */
    int32_t max_tokens;          /* longest sequence, [CLS] and [SEP] included */
    int32_t has_tokenizer;       /* 1: the model stores a WordPiece vocabulary (eq_session_run_text works) */
    int32_t is_embedding;        /* 1: output is a sentence embedding [hidden] (masked mean pooling) */
} eq_model_info;

/* Session options: initialize with eq_session_default_options(). */
typedef struct eq_session_options {
    size_t size;            /* sizeof(eq_session_options) */
    int32_t threads;        /* 1..256: the session's own worker threads (parked between runs), default 1 */
} eq_session_options;

/* ABI version of the loaded library (compare with EQ_ABI_VERSION). */
int32_t eq_abi_version(void);
/* Library version string, static. */
const char* eq_version(void);
/* Message of the calling thread's last error ("" if none). */
const char* eq_last_error(void);

/* path: UTF-8. An empty or unreadable path gives EQ_ERR_INVALID_ARGUMENT or EQ_ERR_IO; a bad file EQ_ERR_FORMAT. */
eq_status eq_model_load(const char* path, eq_model** out_model);
eq_status eq_model_load_memory(const void* data, size_t size, eq_model** out_model);
/* EQ_ERR_INVALID_ARGUMENT while sessions of the model are alive (destroy them first). */
eq_status eq_model_destroy(eq_model* model);
eq_status eq_model_get_info(const eq_model* model, eq_model_info* info);
/* Class label `index` (UTF-8, owned by the model). */
eq_status eq_model_get_label(const eq_model* model, int32_t index, const char** out_label);

void eq_session_default_options(eq_session_options* options);
eq_status eq_session_create(const eq_model* model, const eq_session_options* options, eq_session** out_session);
eq_status eq_session_destroy(eq_session* session);
/* input: batch x [C, H, W] floats in the model's input convention; logits: batch x num_classes. */
eq_status eq_session_run_f32(eq_session* session, const float* input, size_t input_count, float* logits, size_t logits_count);
/* One image of 8-bit pixels [height, width, channels]; the model's preprocessing is applied. */
eq_status eq_session_run_u8(eq_session* session, const uint8_t* pixels, int32_t height, int32_t width, int32_t channels,
                            float* logits, size_t logits_count);

/* Text models. input_ids, attention_mask, token_type_ids: [batch, length] int32, row-major; mask (1 = token,
 * 0 = padding) and types may be NULL (all ones / all zeros). output: batch x num_classes floats. Padding is masked
 * exactly; the classifier reads the first token, so pad on the right. */
eq_status eq_session_run_tokens(eq_session* session, const int32_t* input_ids, const int32_t* attention_mask,
                                const int32_t* token_type_ids, int32_t batch, int32_t length, float* output, size_t output_count);
/* Tokenizes UTF-8 text with the model's WordPiece tokenizer ([CLS] ... [SEP], truncated to max_tokens) and runs it.
 * out_tokens (may be NULL) receives the token count. Invalid UTF-8 gives EQ_ERR_INVALID_ARGUMENT. */
/* text: NUL-terminated UTF-8 (a NUL ends the text; invalid UTF-8 is EQ_ERR_INVALID_ARGUMENT). */
eq_status eq_session_run_text(eq_session* session, const char* text, float* output, size_t output_count, int32_t* out_tokens);
/* Token ids of UTF-8 text, at most `capacity` (>= 2) of them; out_count receives the count. */
eq_status eq_session_tokenize(eq_session* session, const char* text, int32_t* ids, size_t capacity, int32_t* out_count);

/* Top-k of logits: indices (descending) and softmax probabilities; k <= count. Either output may be NULL. */
eq_status eq_topk(const float* logits, size_t count, int32_t k, int32_t* indices, float* probabilities);

#ifdef __cplusplus
}
#endif
#endif /* EDGEQUANT_H */
