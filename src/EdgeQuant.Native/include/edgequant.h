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
 * thread at a time; create one session per thread. A model must outlive its sessions. The same holds for an eq_decoder and its
 * eq_decoder_sessions; an eq_sampler is used by one thread at a time.
 *
 * ABI versions: 1 image models; 2 text models (eq_session_run_tokens/_text, eq_session_tokenize, eq_model_info text fields);
 * 3 decoder language models (eq_decoder_*, eq_sampler_*).
 */
#ifndef EDGEQUANT_H
#define EDGEQUANT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EQ_ABI_VERSION 3

typedef enum eq_status {
    EQ_OK = 0,
    EQ_ERR_INVALID_ARGUMENT = -1,  /* null pointer, wrong size/shape, non-finite input; decoders: token id outside the
                                      vocabulary, context full */
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

/* ---------------------------------------------------------------------------------------------------------------------
 * Decoder language models (ABI 3): LLaMA/Mistral/Qwen2/GPT-2 style .eqm files (architecture "decoder"). The files store no
 * tokenizer: prompts and outputs are token ids. An eq_model_load of a decoder file (or an eq_decoder_load of an encoder file)
 * is EQ_ERR_FORMAT. Handles of one kind are not accepted where another is expected (EQ_ERR_INVALID_HANDLE).
 */
typedef struct eq_decoder eq_decoder;                 /* opaque: an immutable, shareable decoder model */
typedef struct eq_decoder_session eq_decoder_session; /* opaque: a key/value cache and buffers, one thread at a time */
typedef struct eq_sampler eq_sampler;                 /* opaque: sampling options, scratch and its random generator */

/* Decoder description. Strings and eos_ids are owned by the decoder. */
typedef struct eq_decoder_info {
    size_t size;                 /* set to sizeof(eq_decoder_info) before the call (a larger size is accepted, its tail untouched) */
    const char* model_type;      /* source family: "llama", "mistral", "qwen2", "gpt2" */
    const char* precision;       /* "fp32" or "int8" (quantized weights, int8 activations per token) */
    int32_t vocab_size;          /* logits per position; valid ids are 0..vocab_size-1 */
    int32_t context_trained;     /* longest context the model was trained for (max positions) */
    int32_t layers, hidden, heads, kv_heads, head_dim, mlp_dim;
    int32_t weight_bits;         /* 32 (float), 8 (int8 per channel) or 4 (4-bit groups) */
    int32_t bos_id;              /* beginning-of-sequence id, -1 if none (never added automatically) */
    int32_t eos_count;           /* number of end-of-sequence ids (eq_decoder_generate stops at any of them) */
    const int32_t* eos_ids;      /* eos_count ids */
} eq_decoder_info;

/* path: UTF-8 .eqm of a decoder. Errors as eq_model_load; out_decoder is cleared on failure. */
eq_status eq_decoder_load(const char* path, eq_decoder** out_decoder);
/* EQ_ERR_INVALID_ARGUMENT while sessions of the decoder are alive (destroy them first); a second destroy is EQ_ERR_INVALID_HANDLE. */
eq_status eq_decoder_destroy(eq_decoder* decoder);
eq_status eq_decoder_get_info(const eq_decoder* decoder, eq_decoder_info* info);

/* threads: 1..256 (the session's own workers, parked between calls). context_length: tokens the cache holds, prompt and
 * generated ones together; 0 = the trained context capped at 2048. Models with learned positions (GPT-2) cannot exceed
 * their trained context (EQ_ERR_INVALID_ARGUMENT). The cache and every buffer are allocated here, once. */
eq_status eq_decoder_session_create(const eq_decoder* decoder, int32_t threads, int32_t context_length, eq_decoder_session** out_session);
eq_status eq_decoder_session_destroy(eq_decoder_session* session);
/* Appends ids[0..count) (count >= 1; long prompts are run in chunks) to the cache and computes the logits after the last one.
 * logits: NULL, or at least vocab_size floats receiving them. An id outside the vocabulary, or a cache that cannot take
 * count more tokens ("context full"), is EQ_ERR_INVALID_ARGUMENT and leaves the session unchanged; logits_count <
 * vocab_size is EQ_ERR_BUFFER_TOO_SMALL (nothing is fed). */
eq_status eq_decoder_feed(eq_decoder_session* session, const int32_t* ids, size_t count, float* logits, size_t logits_count);
/* Empties the cache (a new conversation). */
eq_status eq_decoder_reset(eq_decoder_session* session);
/* Tokens in the cache (the position of the next token fed) and, if out_context_length is not NULL, the most it holds. */
eq_status eq_decoder_position(const eq_decoder_session* session, int32_t* out_position, int32_t* out_context_length);

/* Sampling options: initialize with eq_sampling_default_options(). The next token is chosen by: repetition penalty over the
 * last repetition_window ids of the history, then greedy (temperature 0: argmax, ties to the lower id) or temperature ->
 * top-k -> top-p -> a draw from the renormalized probabilities. A seed gives the same tokens on every machine. */
typedef struct eq_sampling_options {
    size_t size;                 /* sizeof(eq_sampling_options) */
    float temperature;           /* >= 0; 0 = greedy (default) */
    int32_t top_k;               /* >= 0; 0 = no limit; default 40 */
    float top_p;                 /* (0, 1]; 1 = no limit; default 0.95 */
    float repetition_penalty;    /* > 0; 1 = off (default); seen tokens' logits divided (positive) or multiplied (negative) by it */
    int32_t repetition_window;   /* >= 0; most recent ids the penalty looks at; default 64 */
    uint64_t seed;               /* of the sampler's own generator (splitmix64); default 0 */
} eq_sampling_options;

void eq_sampling_default_options(eq_sampling_options* options);
/* vocab: 1..2^20 (eq_decoder_info.vocab_size). options: NULL = defaults; an invalid option is EQ_ERR_INVALID_ARGUMENT. */
eq_status eq_sampler_create(int32_t vocab, const eq_sampling_options* options, eq_sampler** out_sampler);
eq_status eq_sampler_destroy(eq_sampler* sampler);
/* The next token after logits (exactly vocab values; NaN or +inf is EQ_ERR_INVALID_ARGUMENT, -inf bans a token) given the ids so far
 * (history, for the repetition penalty; may be NULL when history_count is 0). Advances the sampler's generator. */
eq_status eq_sampler_next(eq_sampler* sampler, const float* logits, size_t logits_count, const int32_t* history, size_t history_count,
                          int32_t* out_token);

/* Called with every generated token, in order; return non-zero to stop the generation after this token. */
typedef int32_t (*eq_token_callback)(int32_t token, void* user);

/* Feeds prompt[0..prompt_count) after what the cache holds (eq_decoder_reset first for a new conversation; prompt_count 0
 * continues from the logits of the last eq_decoder_feed, and is EQ_ERR_INVALID_ARGUMENT right after a reset or a
 * generation), then generates up to max_tokens (>= 1) tokens: each is sampled from the current logits (history: every id
 * in the cache), passed to callback (may be NULL), and fed, until the callback returns non-zero, the token is one of the
 * model's EOS ids or of stop_ids (the stop token is reported and counted), or max_tokens are made.
 * The last generated token is not fed: to continue, pass it as the start of the next prompt. out_generated (may be NULL)
 * receives the number of tokens generated, also after an error. The sampler's vocabulary must be the model's.
 * The whole run must fit the context (position + prompt_count + max_tokens - 1 <= context length) or the call fails with
 * EQ_ERR_INVALID_ARGUMENT before feeding anything. Allocates nothing per token. The callback must not call into this session
 * or sampler. */
eq_status eq_decoder_generate(eq_decoder_session* session, eq_sampler* sampler, const int32_t* prompt, size_t prompt_count,
                              int32_t max_tokens, const int32_t* stop_ids, size_t stop_count, eq_token_callback callback,
                              void* user, int32_t* out_generated);

#ifdef __cplusplus
}
#endif
#endif /* EDGEQUANT_H */
