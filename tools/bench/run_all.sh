#!/usr/bin/env bash
# Regenerates the end-to-end figures of docs/PERFORMANCE.md: makes the bench models (once), converts them with
# EdgeQuant (8-, 7- and 4-bit weights), runs EdgeQuant vs ONNX Runtime FP32/INT8 at 1 and 2 threads, writes
# out/bench/results.jsonl and docs/perf_e2e.svg. Takes ~35 minutes on 2 cores; needs Debian python3-torch/onnx.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${EDGEQUANT_SHARED:-../shared}
OUT=out/bench
mkdir -p $OUT
[ -f $OUT/deit_s.onnx ] || /usr/bin/python3 tools/bench/make_bench_models.py --out $OUT
for m in deit_s vit_b16; do [ -f $OUT/$m.int8dyn.onnx ] || /usr/bin/python3 tools/bench/quantize_dynamic.py $OUT/$m.onnx $OUT/$m.int8dyn.onnx; done
[ -f $OUT/bert-base/model.onnx ] || /usr/bin/python3 tools/bench/make_bert_base.py --out $OUT/bert-base
[ -f $OUT/bert-base/model.int8dyn.onnx ] || /usr/bin/python3 tools/bench/quantize_dynamic.py $OUT/bert-base/model.onnx $OUT/bert-base/model.int8dyn.onnx
[ -f $OUT/vit_mnist.int8dyn.onnx ] || /usr/bin/python3 tools/bench/quantize_dynamic.py "$SHARED/models/vit-mnist/vit-mnist.onnx" $OUT/vit_mnist.int8dyn.onnx
dotnet build -c Release tools/bench/EdgeQuant.Bench -nologo -clp:ErrorsOnly
dotnet build -c Release src/EdgeQuant.Cli -nologo -clp:ErrorsOnly
E="dotnet src/EdgeQuant.Cli/bin/Release/net10.0/edgequant.dll"
B="dotnet tools/bench/EdgeQuant.Bench/bin/Release/net10.0/EdgeQuant.Bench.dll"
for wb in 8 7 4; do
  $E convert "$SHARED/models/vit-mnist/vit-mnist.onnx" -o $OUT/vit-mnist-w$wb.eqm --weight-bits $wb \
     --calib-images "$SHARED/data/mnist/t10k-images-idx3-ubyte" --calib-range 9000:10000 2>/dev/null
  for m in deit_s vit_b16; do
    # Random-weight models: calibration on seeded noise images is as representative as anything else.
    $E convert $OUT/$m.onnx -o $OUT/$m-w$wb.eqm --weight-bits $wb --calib-random 8 --calibrator minmax \
       --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 2>/dev/null
  done
  $E convert --hf $OUT/bert-base/hf -o $OUT/bert-base-w$wb.eqm --weight-bits $wb \
     --calib-text "$SHARED/data/sst2/train.tsv" --calib-range 0:256 2>/dev/null
done
$E convert --hf $OUT/bert-base/hf -o $OUT/bert-base-fp32.eqm --precision fp32 2>/dev/null
$B reference $OUT/bert-base-fp32.eqm $OUT/bert-base/reference.json   # FP32 engine vs PyTorch
# One MNIST test image as the vit-mnist input (pixel/255), as .npy.
/usr/bin/python3 - "$SHARED" $OUT <<'PY'
import sys, numpy as np
d = np.fromfile(sys.argv[1] + "/data/mnist/t10k-images-idx3-ubyte", dtype=np.uint8)[16:16 + 784]
np.save(sys.argv[2] + "/vit_mnist.input.npy", (d.astype(np.float32) / 255).reshape(1, 1, 28, 28))
PY
rm -f $OUT/results.jsonl
runs() { case $1 in vit_mnist) echo "--runs 2000 --warmup 200";; deit_s) echo "--runs 30 --warmup 5";; *) echo "--runs 15 --warmup 3";; esac; }
for wb in 8 7 4; do
  $B e2e --name "vit-mnist (W${wb})" --onnx "$SHARED/models/vit-mnist/vit-mnist.onnx" --int8dyn $OUT/vit_mnist.int8dyn.onnx \
     --eqm $OUT/vit-mnist-w$wb.eqm --input $OUT/vit_mnist.input.npy --threads 1,2 $(runs vit_mnist) --json $OUT/results.jsonl
  for m in deit_s vit_b16; do
    $B e2e --name "$m (W${wb})" --onnx $OUT/$m.onnx --int8dyn $OUT/$m.int8dyn.onnx --eqm $OUT/$m-w$wb.eqm \
       --input $OUT/$m.input.npy --threads 1,2 $(runs $m) --json $OUT/results.jsonl
  done
  $B e2e --name "bert-base seq128 (W${wb})" --onnx $OUT/bert-base/model.onnx --int8dyn $OUT/bert-base/model.int8dyn.onnx \
     --eqm $OUT/bert-base-w$wb.eqm --seq 128 --threads 1,2 --runs 20 --warmup 3 --json $OUT/results.jsonl
done
/usr/bin/python3 tools/bench/plot.py $OUT/results.jsonl docs/perf_e2e.svg
