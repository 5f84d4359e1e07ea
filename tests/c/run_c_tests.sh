#!/usr/bin/env bash
# C ABI tests: builds examples/c for x64 against artifacts/linux-x64 and runs classify + abi_check; cross-builds
# for arm64 against artifacts/linux-arm64 and runs both under qemu-aarch64 for Cortex-A72 and Cortex-A76, with
# int8 models converted on x64, checking that the arm64 logits equal the x64 logits bit for bit.
#
#   tests/c/run_c_tests.sh            # EDGEQUANT_SHARED=/path/to/shared (default: ../shared next to the repo)
#
# Needs the published artifacts/linux-x64 and artifacts/linux-arm64, cc, make, aarch64-linux-gnu-gcc and
# qemu-aarch64-static. Also runs tests/c/race_destroy.c (eq_model_destroy racing eq_session_create/destroy);
# EQ_C_TESTS_RACE=0 skips it. Then tests/c/run_decoder_tests.sh (decoder LLMs; its counts join the totals).
# Last line: "c-tests: N passed, M failed"; exit status 0 only when M is 0.
set -u

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHARED="${EDGEQUANT_SHARED:-$REPO/../shared}"
X64="$REPO/artifacts/linux-x64"
ARM64="$REPO/artifacts/linux-arm64"
CLI="$X64/edgequant"
EXAMPLES="$REPO/examples/c"
QEMU="${QEMU:-qemu-aarch64-static}"
SYSROOT="${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}"
CROSS_CC="${CROSS_CC:-aarch64-linux-gnu-gcc}"
CPUS="${EQ_QEMU_CPUS:-cortex-a72 cortex-a76}"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/eq-c-tests.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

source "$REPO/tests/c/harness.sh"

# close_output NAME FILE_A FILE_B: same count of numbers, each within 1e-5 relative (1e-6 absolute floor).
# The FP32 reference path has a named tolerance, not bit-exactness: its float dot products use the ISA's SIMD width.
close_output() {
    if paste "$2" "$3" | awk 'BEGIN { bad = 0; n = 0 }
        { n++; d = $1 - $2; if (d < 0) d = -d; m = ($1 < 0 ? -$1 : $1); if (d > 1e-5 * m + 1e-6) bad++ }
        END { exit (bad > 0 || n == 0) }' && [ "$(wc -l < "$2")" = "$(wc -l < "$3")" ]; then pass "$1"
    else
        paste "$2" "$3" >"$TMP/diff" 2>&1
        fail "$1" "$TMP/diff"
    fi
}

# ------------------------------------------------------------------ prerequisites
for f in "$CLI" "$X64/libedgequant.so" "$X64/include/edgequant.h" "$ARM64/libedgequant.so" "$ARM64/include/edgequant.h"; do
    [ -f "$f" ] || { fail "prerequisite $f exists"; finish c-tests; }
done
MNIST_ONNX="$SHARED/models/vit-mnist/vit-mnist.onnx"
MNIST_IMAGES="$SHARED/data/mnist/t10k-images-idx3-ubyte"
for f in "$MNIST_ONNX" "$MNIST_IMAGES"; do
    [ -f "$f" ] || { fail "shared file $f exists (set EDGEQUANT_SHARED)"; finish c-tests; }
done

# ------------------------------------------------------------------ models and images (x64 CLI)
M="$TMP/models"; I="$TMP/images"
mkdir -p "$M" "$I"
check "convert vit-mnist int8" "$CLI" convert "$MNIST_ONNX" -o "$M/vit-mnist.eqm" \
    --calib-images "$MNIST_IMAGES" --calib-range 9000:10000
check "convert vit_meanpool int8" "$CLI" convert "$REPO/tests/assets/vit_meanpool.onnx" -o "$M/tiny.eqm" --calib-random 8
check "convert vit_postln_relu int8 (RGB, labels, mean/std)" "$CLI" convert "$REPO/tests/assets/vit_postln_relu.onnx" \
    -o "$M/rgb.eqm" --calib-random 8 --labels "chat noir,chien,oiseau bleu,été,x" --mean 0.5,0.4,0.3 --std 0.2,0.25,0.3
check "convert vit_preln_oddheads fp32" "$CLI" convert "$REPO/tests/assets/vit_preln_oddheads.onnx" \
    -o "$M/odd-fp32.eqm" --precision fp32

# MNIST test images as PGM; deterministic pseudo-random PGM/PPM images for the small models.
for idx in 0 1 2 3 4 9999; do
    { printf 'P5\n28 28\n255\n'; tail -c +$((16 + 784 * idx + 1)) "$MNIST_IMAGES" | head -c 784; } >"$I/mnist$idx.pgm"
done
noise() { # noise SEED BYTES
    local seed=$1 n=$2 i=0 out=""
    while [ $i -lt "$n" ]; do
        seed=$(((seed * 1103515245 + 12345) % 2147483648))
        out+="$(printf '\\%03o' $(((seed >> 16) & 255)))"
        i=$((i + 1))
    done
    printf "%b" "$out"
}
{ printf 'P5\n# noise\n8 8\n255\n'; noise 1 64; } >"$I/tiny1.pgm"
{ printf 'P5\n8 8\n255\n'; noise 2 64; } >"$I/tiny2.pgm"
{ printf 'P6\n12 12\n255\n'; noise 3 432; } >"$I/rgb1.ppm"
{ printf 'P6\n12 12\n255\n'; noise 4 432; } >"$I/rgb2.ppm"
{ printf 'P5\n10 10\n255\n'; noise 5 100; } >"$I/odd1.pgm"

# model:image pairs
CASES="vit-mnist:mnist0.pgm vit-mnist:mnist1.pgm vit-mnist:mnist2.pgm vit-mnist:mnist3.pgm vit-mnist:mnist4.pgm
       vit-mnist:mnist9999.pgm tiny:tiny1.pgm tiny:tiny2.pgm rgb:rgb1.ppm rgb:rgb2.ppm odd-fp32:odd1.pgm"

# ------------------------------------------------------------------ x64
B64="$TMP/build-x64"
check "build x64 (-Wall -Wextra -Werror)" make -C "$EXAMPLES" BUILD="$B64" EQ_DIR="$X64"
for c in $CASES; do
    model="${c%%:*}"; img="${c#*:}"
    out="$TMP/x64.$model.$img"
    if "$B64/classify" --logits "$M/$model.eqm" "$I/$img" >"$out.logits" 2>"$TMP/log"; then
        pass "x64 classify --logits $model $img"
    else
        fail "x64 classify --logits $model $img" "$TMP/log"; continue
    fi
    "$B64/classify" --logits --f32 "$M/$model.eqm" "$I/$img" >"$out.f32" 2>&1
    same_output "x64 eq_session_run_f32 = eq_session_run_u8 ($model $img)" "$out.logits" "$out.f32"
    "$B64/classify" --logits --memory "$M/$model.eqm" "$I/$img" >"$out.mem" 2>&1
    same_output "x64 eq_model_load_memory = eq_model_load ($model $img)" "$out.logits" "$out.mem"
    # top-k text against `edgequant run` (label and 4-decimal logit columns)
    "$B64/classify" --top 100 "$M/$model.eqm" "$I/$img" >"$out.top" 2>&1
    "$CLI" run "$M/$model.eqm" "$I/$img" --top 100 2>/dev/null >"$out.cli"
    sed -E 's/ p=[0-9.]+ / /' "$out.top" >"$out.top.cmp"
    sed -E 's/ p=[0-9.]+ / /' "$out.cli" >"$out.cli.cmp"
    same_output "x64 classify top-k = edgequant run ($model $img)" "$out.top.cmp" "$out.cli.cmp"
    # C ABI vs the C# API (the AOT CLI), bit for bit, and a 2-thread session equal to 1 thread.
    "$B64/classify" --bits "$M/$model.eqm" "$I/$img" >"$out.cbits" 2>&1
    "$CLI" run "$M/$model.eqm" "$I/$img" --bits 2>/dev/null >"$out.csbits"
    same_output "x64 C ABI logits = C# API logits bit for bit ($model $img)" "$out.cbits" "$out.csbits"
    "$B64/classify" --bits --threads 2 "$M/$model.eqm" "$I/$img" >"$out.cbits2" 2>&1
    same_output "x64 2-thread session = 1 thread bit for bit ($model $img)" "$out.cbits" "$out.cbits2"
done
# error paths of the example: status checked, eq_last_error printed, exit 1
if "$B64/classify" "$M/vit-mnist.eqm" "$I/tiny1.pgm" >"$TMP/log" 2>&1; then fail "x64 classify rejects a wrong image size" "$TMP/log"
elif [ $? -eq 1 ] && grep -q "eq_session_run_u8 failed (status -1): image is 8x8" "$TMP/log"; then pass "x64 classify rejects a wrong image size"
else fail "x64 classify rejects a wrong image size" "$TMP/log"; fi
if "$B64/classify" "$TMP/missing.eqm" "$I/tiny1.pgm" >"$TMP/log" 2>&1; then fail "x64 classify reports a missing model" "$TMP/log"
elif [ $? -eq 1 ] && grep -q "eq_model_load failed (status -3)" "$TMP/log"; then pass "x64 classify reports a missing model"
else fail "x64 classify reports a missing model" "$TMP/log"; fi
for model in tiny vit-mnist rgb odd-fp32; do
    check "x64 abi_check $model" "$B64/abi_check" "$M/$model.eqm"
done
check "x64 bench_run smoke" "$B64/bench_run" "$M/vit-mnist.eqm" "$I/mnist0.pgm" --calls 20 --loads 2

# ------------------------------------------------------------------ arm64 under qemu
BA="$TMP/build-arm64"
check "build arm64 (-Wall -Wextra -Werror)" make -C "$EXAMPLES" BUILD="$BA" EQ_DIR="$ARM64" CC="$CROSS_CC"
for cpu in $CPUS; do
    Q=("$QEMU" -L "$SYSROOT" -cpu "$cpu")
    for c in $CASES; do
        model="${c%%:*}"; img="${c#*:}"
        x="$TMP/x64.$model.$img"
        a="$TMP/arm64-$cpu.$model.$img"
        [ -f "$x.logits" ] || { fail "arm64 $cpu $model $img (no x64 reference)"; continue; }
        if "${Q[@]}" "$BA/classify" --logits "$M/$model.eqm" "$I/$img" >"$a.logits" 2>"$TMP/log"; then
            if [[ "$model" == *fp32 ]]; then
                close_output "arm64 $cpu fp32 logits = x64 within 1e-5 ($model $img)" "$x.logits" "$a.logits"
            else
                same_output "arm64 $cpu logits = x64 logits bit for bit ($model $img)" "$x.logits" "$a.logits"
            fi
        else
            fail "arm64 $cpu classify --logits $model $img" "$TMP/log"
        fi
        "${Q[@]}" "$BA/classify" --logits --f32 "$M/$model.eqm" "$I/$img" >"$a.f32" 2>&1
        if [[ "$model" == *fp32 ]]; then
            close_output "arm64 $cpu eq_session_run_f32 = x64 within 1e-5 ($model $img)" "$x.logits" "$a.f32"
        else
            same_output "arm64 $cpu eq_session_run_f32 = x64 ($model $img)" "$x.logits" "$a.f32"
        fi
    done
    "${Q[@]}" "$BA/classify" --top 3 "$M/rgb.eqm" "$I/rgb1.ppm" >"$TMP/a.top" 2>&1
    "$B64/classify" --top 3 "$M/rgb.eqm" "$I/rgb1.ppm" >"$TMP/x.top" 2>&1
    same_output "arm64 $cpu classify top-3 text = x64" "$TMP/x.top" "$TMP/a.top"
    for model in tiny vit-mnist; do
        check "arm64 $cpu abi_check $model" "${Q[@]}" "$BA/abi_check" "$M/$model.eqm"
    done
    check "arm64 $cpu bench_run smoke" "${Q[@]}" "$BA/bench_run" "$M/tiny.eqm" --calls 5 --loads 2
done

# ------------------------------------------------------------------ the eq_model_destroy race
if [ "${EQ_C_TESTS_RACE:-1}" = 1 ]; then
    if cc -std=c11 -Wall -Wextra -Werror -O2 -isystem "$X64/include" -o "$TMP/race_destroy" "$REPO/tests/c/race_destroy.c" \
        -L"$X64" -Wl,-rpath,"$X64" -ledgequant -lpthread >"$TMP/log" 2>&1; then
        check "x64 race_destroy (eq_model_destroy vs eq_session_create / eq_model_destroy)" "$TMP/race_destroy" "$M/tiny.eqm" 3000
    else
        fail "build race_destroy" "$TMP/log"
    fi
fi

# ------------------------------------------------------------------ decoder LLMs (eq_decoder_*, eq_sampler_*)
EQ_X64_DIR="$X64" EQ_ARM64_DIR="$ARM64" EQ_CLI="$CLI" EQ_QEMU_CPUS="$CPUS" "$REPO/tests/c/run_decoder_tests.sh" | tee "$TMP/decoder.log"
counts=$(sed -n 's/^decoder-c-tests: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$TMP/decoder.log")
if [ -n "$counts" ]; then passed=$((passed + ${counts% *})); failed=$((failed + ${counts#* }))
else fail "tests/c/run_decoder_tests.sh reports its counts" "$TMP/decoder.log"; fi

finish c-tests
