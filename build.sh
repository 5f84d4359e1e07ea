#!/usr/bin/env bash
# EdgeQuant build driver. Verbs:
#   deps                 install what a fresh Debian machine with only the .NET 10 SDK needs (idempotent)
#   build                Release build of the solution
#   test                 full test suite: xunit (x64, JIT) + AOT x64/arm64 publish + arm64 selftest under qemu (A72, A76)
#   demo                 Fashion-MNIST ViT (FP32 vs INT8 on the 10k test set) and the tiny SST-2 BERT (INT8 on SST-2 dev, one sentence)
#   publish <target>     self-contained AOT executable + shared library for targets/<target>.props into artifacts/<target>
#   pack                 NuGet packages of the engine library into artifacts/nuget
#   zoo                  retrain the model-zoo ViT (Debian python3-torch; minutes) -- never part of test
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
SHARED=${EDGEQUANT_SHARED:-$ROOT/../shared}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '\n== %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

deps() {
  command -v dotnet >/dev/null || { echo "the .NET 10 SDK must be on PATH" >&2; exit 1; }
  # arm64 cross toolchain for Native AOT + qemu to run it; Fashion-MNIST for the demo; ICU for the tokenizer tests'
  # reference (Microsoft.ML.Tokenizers normalizes with ICU; the engine itself runs invariant).
  apt_install clang lld gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static dataset-fashion-mnist \
    make gcc libc6-dev python3-numpy python3-pytest python3-venv python3-pip libicu72 afl++
}

build() { dotnet build EdgeQuant.sln -c Release -nologo -clp:ErrorsOnly; }

publish() {
  local target=${1:?usage: ./build.sh publish <target> (one of: $(ls targets | sed 's/\.props$//' | tr '\n' ' '))}
  [ -f "targets/$target.props" ] || { echo "unknown target '$target'; available: $(ls targets | sed 's/\.props$//' | tr '\n' ' ')" >&2; exit 2; }
  local out="artifacts/$target"
  log "publish $target -> $out"
  rm -rf "$out"
  dotnet publish src/EdgeQuant.Cli -c Release -nologo -clp:ErrorsOnly -p:EdgeQuantTarget="$target" -o "$out"
  dotnet publish src/EdgeQuant.Native -c Release -nologo -clp:ErrorsOnly -p:EdgeQuantTarget="$target" -o "$out"
  dotnet publish demos/EdgeQuant.Camera -c Release -nologo -clp:ErrorsOnly -p:EdgeQuantTarget="$target" -o "$out"
  dotnet publish demos/EdgeQuant.TextDemo -c Release -nologo -clp:ErrorsOnly -p:EdgeQuantTarget="$target" -o "$out"
  mkdir -p "$out/include" && cp src/EdgeQuant.Native/include/edgequant.h "$out/include/"
  # Python package beside the library it loads (edgequant/_native.py looks next to the package first).
  mkdir -p "$out/python" && cp -r src/python/edgequant "$out/python/" && rm -rf "$out/python/edgequant/__pycache__"
  rm -f "$out"/*.pdb "$out"/*.xml "$out"/*.dbg
  # The wheel (library inside the package, manylinux tag from the glibc it needs) and one tarball with everything.
  /usr/bin/python3 tools/packaging/make_wheel.py "$out"
  tar -czf "$out/edgequant-$(version)-$target.tar.gz" -C "$out" --transform "s:^\.:edgequant-$(version)-$target:" \
    ./edgequant ./eqcam ./eqtext ./libSystem.IO.Ports.Native.so ./libedgequant.so ./include ./python "./$(cd "$out" && ls edgequant-*.whl)"
  ls -l "$out"
}

# NuGet packages of the engine library (EdgeQuant.Engine with EdgeQuant.Format and EdgeQuant.Kernels) into artifacts/nuget.
pack() {
  log "dotnet pack -> artifacts/nuget"
  rm -rf artifacts/nuget
  dotnet pack EdgeQuant.sln -c Release -nologo -clp:ErrorsOnly -o artifacts/nuget
  ls -l artifacts/nuget
}

version() { sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props; }

# The reference the packages are held to: vit-mnist converted by the x64 CLI into DIR/vit-mnist.eqm, MNIST test
# image 0 as DIR/seven.pgm, and the CLI's logits for it as IEEE-754 hex in DIR/cli.txt.
mnist_reference() {
  local dir=$1
  artifacts/linux-x64/edgequant convert "$SHARED/models/vit-mnist/vit-mnist.onnx" -o "$dir/vit-mnist.eqm" \
     --calib-images "$SHARED/data/mnist/t10k-images-idx3-ubyte" --calib-range 9000:9200 2>/dev/null
  { printf 'P5\n28 28\n255\n'; head -c 800 "$SHARED/data/mnist/t10k-images-idx3-ubyte" | tail -c 784; } > "$dir/seven.pgm"
  artifacts/linux-x64/edgequant run "$dir/vit-mnist.eqm" "$dir/seven.pgm" --bits > "$dir/cli.txt"
}

# A throwaway app restores EdgeQuant.Engine from the local feed, runs under the JIT and as a Native AOT executable
# (warnings are errors: the package must stay trim/AOT clean), and must print the CLI's logits bit for bit.
nuget_smoke() {
  local tmp; tmp=$(mktemp -d)
  pack
  log "NuGet package: a new app restores EdgeQuant.Engine $(version) from artifacts/nuget and classifies an image"
  cp tests/nuget/consumer/Consumer.csproj tests/nuget/consumer/Program.cs "$tmp/"
  printf '%s\n' '<?xml version="1.0" encoding="utf-8"?>' '<configuration>' '  <packageSources>' '    <clear />' \
    "    <add key=\"local\" value=\"$ROOT/artifacts/nuget\" />" '    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />' \
    '  </packageSources>' '</configuration>' > "$tmp/nuget.config"
  # Own packages folder: a stale EdgeQuant.Engine of the same version in ~/.nuget/packages must not stand in.
  local props=(-p:EdgeQuantVersion="$(version)" -p:RestorePackagesPath="$tmp/packages")
  mnist_reference "$tmp"
  dotnet run --project "$tmp/Consumer.csproj" -c Release "${props[@]}" -- "$tmp/vit-mnist.eqm" "$tmp/seven.pgm" > "$tmp/jit.txt"
  dotnet publish "$tmp/Consumer.csproj" -c Release -r linux-x64 -p:PublishAot=true "${props[@]}" -o "$tmp/aot" -nologo -clp:ErrorsOnly
  "$tmp/aot/Consumer" "$tmp/vit-mnist.eqm" "$tmp/seven.pgm" > "$tmp/aot.txt"
  cmp "$tmp/cli.txt" "$tmp/jit.txt"
  cmp "$tmp/cli.txt" "$tmp/aot.txt"
  echo "NuGet consumer (JIT, and AOT $(stat -c %s "$tmp/aot/Consumer") bytes) = CLI logits bit for bit; packages: $(cd artifacts/nuget && stat -c '%n %s B' *.nupkg | paste -sd ' ')"
  rm -rf "$tmp"
}

# The camera demo on the file sources (a folder of Fashion-MNIST test images and a raw YUYV video made from them):
# x64 and arm64 under qemu A72/A76 must classify every frame identically (same label, same logit bits).
camera_smoke() {
  local tmp; tmp=$(mktemp -d) X=artifacts/linux-x64/edgequant
  log "camera demo (eqcam) on the file source: x64 and arm64 under qemu A72/A76"
  /usr/bin/python3 - "$tmp" <<'PY'
import gzip, sys
out = sys.argv[1]
b = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()
import os
os.makedirs(out + "/frames")
video = bytearray()
for i in range(32):
    img = b[16 + i * 784:16 + (i + 1) * 784]
    open(f"{out}/frames/img{i:03d}.pgm", "wb").write(b"P5\n28 28\n255\n" + img)
    # 64x48 YUYV: luma from the image (nearest), neutral chroma
    for y in range(48):
        for x in range(0, 64, 2):
            p = lambda xx: img[min(27, y * 28 // 48) * 28 + min(27, xx * 28 // 64)]
            video += bytes([p(x), 128, p(x + 1), 128])
open(f"{out}/frames.yuyv", "wb").write(video)
PY
  $X convert tools/modelzoo/fashion-vit/model.onnx -o "$tmp/fashion.eqm" --labels-file tools/modelzoo/fashion-vit/labels.txt \
     --calib-images /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz --calib-range 0:200 2>/dev/null
  for src in "dir:$tmp/frames" "raw:$tmp/frames.yuyv:64x48:yuyv"; do
    artifacts/linux-x64/eqcam "$tmp/fashion.eqm" --source "$src" --log > "$tmp/x64.txt"
    for cpu in cortex-a72 cortex-a76; do
      qemu_run "$cpu" artifacts/linux-arm64/eqcam "$tmp/fashion.eqm" --source "$src" --log > "$tmp/arm64.txt"
      cmp "$tmp/x64.txt" "$tmp/arm64.txt"
    done
    echo "eqcam ${src%%:*} source: $(wc -l < "$tmp/x64.txt") frames, arm64 A72/A76 = x64 (labels and logit bits)"
  done
  rm -rf "$tmp"
}

# The text demo: classify lines from stdin (SST-2 tiny BERT) and index + search notes (a sentence-embedding model),
# x64 and arm64 under qemu A72/A76 with identical answers; invalid UTF-8 is answered with an error line.
text_smoke() {
  local tmp; tmp=$(mktemp -d) X=artifacts/linux-x64/edgequant
  log "text demo (eqtext): classify and search, x64 and arm64 under qemu A72/A76"
  $X convert --hf tests/assets/plm/sst2_tiny -o "$tmp/sst2.eqm" --calib-text "$SHARED/data/sst2/train.tsv" --calib-range 0:256 2>/dev/null
  $X convert --hf tests/assets/plm/bert_emb -o "$tmp/emb.eqm" --calib-text "$SHARED/data/sst2/train.tsv" --calib-range 0:64 2>/dev/null
  { cut -f1 "$SHARED/data/sst2/validation.tsv" | sed -n '2,41p'; printf 'bad \377\376 bytes\n'; } > "$tmp/lines.txt"
  mkdir -p "$tmp/notes"
  cut -f1 "$SHARED/data/sst2/validation.tsv" | sed -n '42,81p' | sed 's/$/\n/' > "$tmp/notes/dev.md" # one paragraph per sentence
  artifacts/linux-x64/eqtext "$tmp/emb.eqm" index "$tmp/notes" -o "$tmp/notes.idx" 2>/dev/null
  artifacts/linux-x64/eqtext "$tmp/sst2.eqm" classify --top 2 < "$tmp/lines.txt" > "$tmp/x64.txt"
  grep -q "error: the input is not valid UTF-8" "$tmp/x64.txt"
  head -5 "$tmp/lines.txt" | artifacts/linux-x64/eqtext "$tmp/emb.eqm" search "$tmp/notes.idx" 2>/dev/null >> "$tmp/x64.txt"
  for cpu in cortex-a72 cortex-a76; do
    qemu_run "$cpu" artifacts/linux-arm64/eqtext "$tmp/sst2.eqm" classify --top 2 < "$tmp/lines.txt" > "$tmp/arm64.txt"
    head -5 "$tmp/lines.txt" | qemu_run "$cpu" artifacts/linux-arm64/eqtext "$tmp/emb.eqm" search "$tmp/notes.idx" 2>/dev/null >> "$tmp/arm64.txt"
    cmp "$tmp/x64.txt" "$tmp/arm64.txt"
  done
  echo "eqtext: $(wc -l < "$tmp/lines.txt") lines classified and 5 searches, arm64 A72/A76 = x64"
  rm -rf "$tmp"
}

# The x64 wheel installed into a fresh virtual environment (Debian's numpy through --system-site-packages: no index is
# reachable) and used from outside the repository; its logits must equal the CLI's bit for bit.
wheel_smoke() {
  local tmp; tmp=$(mktemp -d)
  log "Python wheel: install into a fresh venv and classify"
  /usr/bin/python3 -m venv --system-site-packages "$tmp/venv"
  "$tmp/venv/bin/python" -m pip install -q --no-index --no-deps artifacts/linux-x64/edgequant-*.whl
  mnist_reference "$tmp"
  (cd "$tmp" && env -u PYTHONPATH -u EDGEQUANT_LIB venv/bin/python "$ROOT/tests/python/check_wheel.py" vit-mnist.eqm seven.pgm > py.txt)
  cmp "$tmp/cli.txt" "$tmp/py.txt"
  echo "wheel installed and = CLI logits bit for bit: $(cd artifacts && stat -c '%n %s B' linux-*/edgequant-*.whl | paste -sd ' ')"
  rm -rf "$tmp"
}

qemu_run() { # cpu, binary, args...
  local cpu=$1; shift
  qemu-aarch64-static -L /usr/aarch64-linux-gnu -cpu "$cpu" "$@"
}

arm64_selftest() {
  local X=artifacts/linux-x64/edgequant A=artifacts/linux-arm64/edgequant
  local tmp; tmp=$(mktemp -d)
  log "convert test models with the x64 AOT build"
  $X convert "$SHARED/models/vit-mnist/vit-mnist.onnx" -o "$tmp/vit-mnist-int8.eqm" \
     --calib-images "$SHARED/data/mnist/t10k-images-idx3-ubyte" --calib-range 9000:10000 2>/dev/null
  $X convert "$SHARED/models/vit-mnist/vit-mnist.onnx" -o "$tmp/vit-mnist-fp32.eqm" --precision fp32 2>/dev/null
  $X convert "$SHARED/models/vit-mnist/vit-mnist.onnx" -o "$tmp/vit-mnist-integer-int8.eqm" --profile integer \
     --calib-images "$SHARED/data/mnist/t10k-images-idx3-ubyte" --calib-range 9000:10000 2>/dev/null
  for m in vit_preln_oddheads vit_postln_relu vit_meanpool; do
    $X convert "tests/assets/$m.onnx" -o "$tmp/$m-int8.eqm" --calib-random 32 2>/dev/null
  done
  # Text models: HF folders and an ONNX export, calibrated on SST-2 sentences (the tiny vocabularies map most words to [UNK]).
  local sst2="$SHARED/data/sst2/train.tsv"
  $X convert --hf tests/assets/plm/bert_cls -o "$tmp/bert_cls-int8.eqm" --calib-text "$sst2" --calib-range 0:64 2>/dev/null
  $X convert --hf tests/assets/plm/bert_emb -o "$tmp/bert_emb-int8.eqm" --calib-text "$sst2" --calib-range 0:64 2>/dev/null
  $X convert --hf tests/assets/plm/distilbert_cls -o "$tmp/distilbert_cls-int8.eqm" --calib-text "$sst2" --calib-range 0:64 2>/dev/null
  $X convert tests/assets/plm/bert_onnx/model.onnx -o "$tmp/bert_onnx-w7-int8.eqm" --weight-bits 7 --calib-text "$sst2" --calib-range 0:64 2>/dev/null
  $X convert --hf tests/assets/plm/deit_distilled -o "$tmp/deit_distilled-int8.eqm" --calib-random 16 2>/dev/null
  # Integer-only profile (int32 residual, integer LayerNorm): post-LN text, pre-LN vision with distillation token.
  $X convert --hf tests/assets/plm/bert_cls -o "$tmp/bert_cls-integer-int8.eqm" --profile integer --calib-text "$sst2" --calib-range 0:64 2>/dev/null
  $X convert --hf tests/assets/plm/deit_distilled -o "$tmp/deit_distilled-integer-int8.eqm" --profile integer --calib-random 16 2>/dev/null
  $X convert tests/assets/vit_postln_relu.onnx -o "$tmp/vit_postln_relu-integer-int8.eqm" --profile integer --calib-random 32 2>/dev/null
  # SmoothQuant models (per-channel input quantization) and the other calibrators.
  $X convert --hf tests/assets/plm/bert_cls -o "$tmp/bert_cls-sq-int8.eqm" --smoothquant 0.5 --calibrator mse --calib-text "$sst2" --calib-range 0:64 2>/dev/null
  $X convert tests/assets/vit_preln_oddheads.onnx -o "$tmp/vit_outliers-sq-int8.eqm" --plant-outliers 3 --smoothquant 0.5 --calibrator entropy --calib-random 32 2>/dev/null
  # 4-bit log2 / log-sqrt2 attention probabilities (shift-add P·V), and gamma migration on a text model
  $X convert tests/assets/vit_preln_oddheads.onnx -o "$tmp/vit_preln_oddheads-log2-int8.eqm" --attention-probs log2 --calib-random 32 2>/dev/null
  $X convert --hf tests/assets/plm/deit_distilled -o "$tmp/deit_distilled-logsqrt2-int8.eqm" --attention-probs logsqrt2 --calib-random 16 2>/dev/null
  $X convert --hf tests/assets/plm/sst2_outliers -o "$tmp/sst2_outliers-gamma-int8.eqm" --gamma-migration --calibrator minmax --calib-text "$sst2" --calib-range 0:64 2>/dev/null
  # W4A8: packed 4-bit block linears (s8×s4 kernels), with learned rounding and with mixed precision
  $X convert "$SHARED/models/vit-mnist/vit-mnist.onnx" -o "$tmp/vit-mnist-w4-int8.eqm" --weight-bits 4 --weight-clip mse --adaround 50 \
    --calib-images "$SHARED/data/mnist/t10k-images-idx3-ubyte" --calib-range 9000:9200 2>/dev/null
  $X convert --hf tests/assets/plm/bert_cls -o "$tmp/bert_cls-w4mixed-int8.eqm" --weight-bits 4 --weight-budget 6 --calib-text "$sst2" --calib-range 0:64 2>/dev/null
  $X convert tests/assets/vit_postln_relu.onnx -o "$tmp/vit_postln_relu-w4-integer-int8.eqm" --weight-bits 4 --profile integer --calib-random 32 2>/dev/null
  # Plan models (stem graph + blocks + head graph) from the variant zoo: float stem/head ops in a fixed order.
  for m in conv_linear_stem unfold_meanpool distill_token embedding_l2 maxpool_sigmoid; do
    $X convert "tests/assets/zoo/$m.onnx" -o "$tmp/zoo-$m-int8.eqm" --calib-random 16 2>/dev/null
  done
  # Text models whose head is a graph (masked mean/max pooling, projection, L2), calibrated on token ids.
  awk 'BEGIN { srand(1); for (i = 0; i < 32; i++) { n = 2 + int(rand() * 20); s = ""; for (j = 0; j < n; j++) s = s (j ? "," : "") (5 + int(rand() * 90)); print s } }' > "$tmp/calib-ids.txt"
  for m in text_meanpool_proj_l2 text_maxpool_classifier; do
    $X convert "tests/assets/zoo/$m/model.onnx" -o "$tmp/zoo-$m-int8.eqm" --calib-ids "$tmp/calib-ids.txt" 2>/dev/null
  done
  rm -f "$tmp/calib-ids.txt"
  # Decoder LLMs (weights only: no calibration): FP32, int8 per channel, 4-bit groups of 32 and 64.
  $X convert --hf tests/assets/decoder/llama -o "$tmp/decoder-llama-fp32.eqm" --precision fp32 2>/dev/null
  $X convert --hf tests/assets/decoder/qwen2 -o "$tmp/decoder-qwen2-w4-int8.eqm" --weight-bits 4 2>/dev/null
  $X convert --hf tests/assets/decoder/gpt2 -o "$tmp/decoder-gpt2-w8-int8.eqm" 2>/dev/null
  $X convert --hf tests/assets/decoder/llama -o "$tmp/decoder-llama-w4g64-int8.eqm" --weight-bits 4 --group-size 64 2>/dev/null
  local args=("$tmp"/*.eqm --images "$SHARED/data/mnist/t10k-images-idx3-ubyte" --count 64)
  log "selftest x64 (AOT)"
  $X selftest "${args[@]}" | tee "$tmp/x64.txt"
  for cpu in cortex-a72 cortex-a76; do
    log "selftest linux-arm64 under qemu -cpu $cpu"
    qemu_run $cpu $A selftest "${args[@]}" | tee "$tmp/$cpu.txt"
    # INT8 outputs of every kernel path must be bit-identical to x64's: one distinct hash per model on both sides
    # (FP32 outputs may use a different libm exp: compared only for INT8).
    if ! diff <(grep '^output-hash' "$tmp/x64.txt" | grep ' int8 ' | cut -d' ' -f2,3,5- | sort -u) \
              <(grep '^output-hash' "$tmp/$cpu.txt" | grep ' int8 ' | cut -d' ' -f2,3,5- | sort -u); then
      echo "arm64 ($cpu) INT8 outputs differ from x64" >&2; exit 1
    fi
    echo "arm64 ($cpu): INT8 outputs bit-identical to x64"
  done
  rm -rf "$tmp"
}

# Reproducible conversion: the same inputs and options give a byte-identical .eqm whatever the ISA -- JIT with AVX-512,
# AVX2 or SSE-only vectors, every forced kernel path, the x86-64-v3 AOT build, and the arm64 build under qemu.
reproducible_conversion() {
  local J="dotnet src/EdgeQuant.Cli/bin/Release/net10.0/edgequant.dll" X=artifacts/linux-x64/edgequant A=artifacts/linux-arm64/edgequant
  local tmp; tmp=$(mktemp -d)
  local -a cases=(
    "vit-mnist|$SHARED/models/vit-mnist/vit-mnist.onnx --calib-images $SHARED/data/mnist/t10k-images-idx3-ubyte --calib-range 9000:9200"
    "vit-mnist-w4-adaround|$SHARED/models/vit-mnist/vit-mnist.onnx --weight-bits 4 --weight-clip mse --adaround 50 --calib-images $SHARED/data/mnist/t10k-images-idx3-ubyte --calib-range 9000:9100"
    "fashion-vit|tools/modelzoo/fashion-vit/model.onnx --calib-images /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz --calib-range 0:200"
    "sst2-tiny-bert|--hf tests/assets/plm/sst2_tiny --calib-text $SHARED/data/sst2/train.tsv --calib-range 0:64"
    "zoo-conv-linear-stem|tests/assets/zoo/conv_linear_stem.onnx --calib-random 16"
  )
  local c name args ref
  for c in "${cases[@]}"; do
    name=${c%%|*}; args=${c#*|}
    ref="$tmp/$name.jit.eqm"
    # shellcheck disable=SC2086
    $J convert $args -o "$ref" 2>/dev/null
    # shellcheck disable=SC2086
    {
      DOTNET_EnableAVX512F=0 $J convert $args -o "$tmp/$name.avx2.eqm"
      DOTNET_EnableAVX2=0 $J convert $args -o "$tmp/$name.sse.eqm"
      EDGEQUANT_KERNELS=reference $J convert $args -o "$tmp/$name.ref.eqm"
      $X convert $args -o "$tmp/$name.aot.eqm"
      qemu_run cortex-a72 $A convert $args -o "$tmp/$name.a72.eqm"
    } 2>/dev/null
    for v in avx2 sse ref aot a72; do
      cmp -s "$ref" "$tmp/$name.$v.eqm" || { echo "conversion of $name is not reproducible: $v differs from the JIT x64 file" >&2; exit 1; }
    done
    echo "reproducible: $name ($(stat -c %s "$ref") bytes, identical from JIT AVX-512/AVX2/SSE, reference kernels, AOT x86-64-v3, arm64 A72)"
  done
  rm -rf "$tmp"
}

# Fuzzing in CI: every committed finding (tests/assets/fuzz/<harness>/) and the seed corpora replayed through their
# harnesses, then a bounded AFL++ run of each harness (tools/fuzz/fuzz.sh; the long campaign is the same script).
fuzz_smoke() {
  local F="dotnet tools/fuzz/EdgeQuant.Fuzz/bin/Release/net10.0/EdgeQuant.Fuzz.dll" tmp; tmp=$(mktemp -d)
  log "fuzz regressions + seed corpora replayed"
  $F seeds "$tmp/seeds" >/dev/null
  $F replay all tests/assets/fuzz "$tmp/seeds"
  rm -rf "$tmp"
  log "fuzz smoke: ${EDGEQUANT_FUZZ_SECONDS:-8} s of AFL++ per harness"
  tools/fuzz/fuzz.sh --seconds "${EDGEQUANT_FUZZ_SECONDS:-8}"
}

run_tests() {
  deps
  build
  log "xunit (x64, JIT: the machine's real ISA)"
  EDGEQUANT_SHARED="$SHARED" dotnet test EdgeQuant.sln -c Release --no-build -nologo
  publish linux-x64
  publish linux-arm64
  arm64_selftest
  log "reproducible conversion across ISAs"
  reproducible_conversion
  log "C ABI: C example + abi_check on x64 and arm64 (qemu A72/A76)"
  EDGEQUANT_SHARED="$SHARED" tests/c/run_c_tests.sh
  log "Python package (ctypes over the C ABI)"
  EDGEQUANT_SHARED="$SHARED" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python
  camera_smoke
  text_smoke
  wheel_smoke
  nuget_smoke
  fuzz_smoke
  log "all tests passed"
}

demo() {
  deps
  [ -x artifacts/linux-x64/edgequant ] || publish linux-x64
  local X=artifacts/linux-x64/edgequant F=/usr/share/datasets/fashion-mnist M=tools/modelzoo/fashion-vit
  mkdir -p out
  log "convert the embedded Fashion-MNIST ViT ($M/model.onnx): FP32 and INT8 (calibrated on training images 0..999)"
  $X convert $M/model.onnx -o out/fashion-vit-fp32.eqm --precision fp32 --labels-file $M/labels.txt
  $X convert $M/model.onnx -o out/fashion-vit-int8.eqm --labels-file $M/labels.txt \
     --calib-images $F/train-images-idx3-ubyte.gz --calib-range 0:1000
  for p in fp32 int8; do
    log "evaluate $p on the 10,000 Fashion-MNIST test images"
    $X eval out/fashion-vit-$p.eqm --images $F/t10k-images-idx3-ubyte.gz --labels $F/t10k-labels-idx1-ubyte.gz 2>/dev/null
  done
  local T=tests/assets/plm/sst2_tiny
  log "text: the tiny SST-2 BERT ($T, tools/modelzoo/sst2-tiny-bert): INT8 from the HF folder, calibrated on 512 train sentences"
  $X convert --hf $T -o out/sst2-tiny-int8.eqm --calib-text "$SHARED/data/sst2/train.tsv"
  $X eval out/sst2-tiny-int8.eqm --tsv "$SHARED/data/sst2/validation.tsv" 2>/dev/null
  $X run out/sst2-tiny-int8.eqm --text "a gripping, beautifully acted film" --top 2
}

zoo() {
  apt_install python3-torch python3-onnx python3-numpy dataset-fashion-mnist
  nice -n 10 /usr/bin/python3 tools/modelzoo/fashion-vit/train.py "$@"
}

case "${1:-}" in
  deps) deps ;;
  build) deps; build ;;
  test) run_tests ;;
  demo) demo ;;
  publish) shift; deps; publish "$@" ;;
  pack) deps; build; pack ;;
  zoo) shift; zoo "$@" ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
