#!/usr/bin/env bash
# C ABI tests of decoder LLMs (eq_decoder_*, eq_sampler_*; ABI 3): builds tests/c/decoder_check.c for x64 against
# artifacts/linux-x64 and for arm64 against artifacts/linux-arm64 (run under qemu-aarch64 for each of EQ_QEMU_CPUS),
# with the tiny HF decoders of tests/assets/decoder converted by the x64 CLI:
#   - decoder_check on the llama model as fp32 (greedy = PyTorch's, expected.json), int8 and 4-bit, with gpt2 (EOS stop)
#     and an encoder model (cross-kind handles): good paths and misuse, every documented status;
#   - eq_decoder_generate = `edgequant generate` (the C# API) token for token, greedy and sampled;
#   - arm64: the same checks, the same tokens as x64, and int8/4-bit logits equal to x64's bit for bit.
# Called by run_c_tests.sh (its totals include these); runs alone too:
#
#   tests/c/run_decoder_tests.sh       # EQ_X64_DIR, EQ_ARM64_DIR (published folders), EQ_CLI (default EQ_X64_DIR/edgequant),
#                                      # EQ_QEMU_CPUS="" to skip arm64
# Last line: "decoder-c-tests: N passed, M failed"; exit status 0 only when M is 0.
set -u

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
X64="${EQ_X64_DIR:-$REPO/artifacts/linux-x64}"
ARM64="${EQ_ARM64_DIR:-$REPO/artifacts/linux-arm64}"
CLI="${EQ_CLI:-$X64/edgequant}"
QEMU="${QEMU:-qemu-aarch64-static}"
SYSROOT="${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}"
CROSS_CC="${CROSS_CC:-aarch64-linux-gnu-gcc}"
CPUS="${EQ_QEMU_CPUS-cortex-a72 cortex-a76}"
ASSETS="$REPO/tests/assets"
SRC="$REPO/tests/c/decoder_check.c"
CFLAGS=(-std=c11 -Wall -Wextra -Werror -O2 -ffp-contract=off)

TMP="$(mktemp -d "${TMPDIR:-/tmp}/eq-decoder-tests.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

source "$REPO/tests/c/harness.sh"

for f in "$CLI" "$X64/libedgequant.so" "$X64/include/edgequant.h"; do
    [ -f "$f" ] || { fail "prerequisite $f exists"; finish decoder-c-tests; }
done
if [ -n "$CPUS" ]; then
    for f in "$ARM64/libedgequant.so" "$ARM64/include/edgequant.h"; do
        [ -f "$f" ] || { fail "prerequisite $f exists (EQ_QEMU_CPUS= skips arm64)"; finish decoder-c-tests; }
    done
fi

# ------------------------------------------------------------------ models (x64 CLI)
M="$TMP/models"
mkdir -p "$M"
check "convert llama fp32" "$CLI" convert --hf "$ASSETS/decoder/llama" -o "$M/llama-fp32.eqm" --precision fp32
check "convert llama int8" "$CLI" convert --hf "$ASSETS/decoder/llama" -o "$M/llama-int8.eqm"
check "convert llama 4-bit" "$CLI" convert --hf "$ASSETS/decoder/llama" -o "$M/llama-w4.eqm" --weight-bits 4
check "convert gpt2 fp32" "$CLI" convert --hf "$ASSETS/decoder/gpt2" -o "$M/gpt2-fp32.eqm" --precision fp32
check "convert vit_meanpool int8 (encoder)" "$CLI" convert "$ASSETS/vit_meanpool.onnx" -o "$M/vit.eqm" --calib-random 8

PROMPT=50,130,297,177,26,175,45,242,303 # tests/assets/decoder/llama/expected.json
SAMPLED=(--temperature 0.9 --top-k 20 --top-p 0.9 --repetition-penalty 1.3 --seed 1234)
MODELS="llama-fp32 llama-int8 llama-w4"

# ------------------------------------------------------------------ x64
B64="$TMP/decoder_check-x64"
check "build decoder_check x64 (-Wall -Wextra -Werror)" cc "${CFLAGS[@]}" -isystem "$X64/include" -I "$REPO/examples/c" -o "$B64" "$SRC" \
    -L"$X64" -Wl,-rpath,"$X64" -ledgequant -lm
for m in $MODELS; do
    check "x64 decoder_check $m" "$B64" "$M/$m.eqm" "$M/gpt2-fp32.eqm" --encoder "$M/vit.eqm"
    for mode in greedy sampled; do
        opts=(); [ "$mode" = sampled ] && opts=("${SAMPLED[@]}")
        "$B64" --generate "$M/$m.eqm" --ids "$PROMPT" --max-tokens 40 "${opts[@]}" >"$TMP/x64.$m.$mode" 2>&1
        "$CLI" generate "$M/$m.eqm" --ids "$PROMPT" --max-tokens 40 "${opts[@]}" 2>/dev/null >"$TMP/cli.$m.$mode"
        same_output "x64 eq_decoder_generate = edgequant generate ($m, $mode)" "$TMP/cli.$m.$mode" "$TMP/x64.$m.$mode"
    done
    "$B64" --logits-bits "$M/$m.eqm" --ids "$PROMPT" >"$TMP/x64.$m.bits" 2>&1
    "$B64" --generate "$M/$m.eqm" --ids "$PROMPT" --max-tokens 40 --threads 2 >"$TMP/x64.$m.threads" 2>&1
    same_output "x64 2-thread session = 1 thread ($m)" "$TMP/x64.$m.greedy" "$TMP/x64.$m.threads"
done
# the 4-bit and int8 models are not the fp32 one
if cmp -s "$TMP/x64.llama-fp32.bits" "$TMP/x64.llama-int8.bits"; then fail "x64 int8 logits differ from fp32"; else pass "x64 int8 logits differ from fp32"; fi

# ------------------------------------------------------------------ arm64 under qemu
if [ -n "$CPUS" ]; then
    BA="$TMP/decoder_check-arm64"
    check "build decoder_check arm64 (-Wall -Wextra -Werror)" "$CROSS_CC" "${CFLAGS[@]}" -isystem "$ARM64/include" -I "$REPO/examples/c" -o "$BA" "$SRC" \
        -L"$ARM64" -Wl,-rpath,"$ARM64" -ledgequant -lm
    for cpu in $CPUS; do
        Q=("$QEMU" -L "$SYSROOT" -cpu "$cpu")
        for m in $MODELS; do
            check "arm64 $cpu decoder_check $m" "${Q[@]}" "$BA" "$M/$m.eqm" "$M/gpt2-fp32.eqm" --encoder "$M/vit.eqm"
            for mode in greedy sampled; do
                opts=(); [ "$mode" = sampled ] && opts=("${SAMPLED[@]}")
                "${Q[@]}" "$BA" --generate "$M/$m.eqm" --ids "$PROMPT" --max-tokens 40 "${opts[@]}" >"$TMP/a.$m.$mode" 2>&1
                same_output "arm64 $cpu generated tokens = x64 ($m, $mode)" "$TMP/x64.$m.$mode" "$TMP/a.$m.$mode"
            done
            if [ "$m" != llama-fp32 ]; then # FP32 logits have a named tolerance across ISAs, quantized ones none
                "${Q[@]}" "$BA" --logits-bits "$M/$m.eqm" --ids "$PROMPT" >"$TMP/a.$m.bits" 2>&1
                same_output "arm64 $cpu logits = x64 bit for bit ($m)" "$TMP/x64.$m.bits" "$TMP/a.$m.bits"
            fi
        done
    done
fi

finish decoder-c-tests
