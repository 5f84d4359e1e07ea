#!/usr/bin/env bash
# Regenerates the tables of docs/QUANTIZATION.md: every PTQ option of `edgequant convert` on the three reference
# models, accuracy beside FP32, and conversion time. Writes out/quant/ablation.md (and prints it).
#   vit-mnist   ../shared/models/vit-mnist (MNIST test; calibrate on test images 9000-9999, evaluate on 0-8999)
#   fashion-vit tools/modelzoo/fashion-vit (Fashion-MNIST test 10k; calibrate on train images 0-999)
#   sst2-bert   out/sst2-bert/hf from tools/modelzoo/sst2-bert/train.py (SST-2 dev 872; calibrate on 512 train sentences)
# The "outliers" rows plant 4 BERT-style outlier channels (LayerNorm gamma, beta x50, weight columns /50) into the
# pre-LN ViTs, which leaves their FP32 function unchanged (--plant-outliers); in a post-LN BERT the residual stream
# would carry them into the next LayerNorm's statistics and change the model, so that column is left empty.
# Usage: tools/quant/ablation.sh   (~25 minutes on 2 cores; JIT build of the CLI)
#        ABLATION_ONLY='log2|gamma' tools/quant/ablation.sh   only the matching variants
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${EDGEQUANT_SHARED:-../shared}
OUT=out/quant
mkdir -p $OUT
dotnet build -c Release src/EdgeQuant.Cli -nologo -clp:ErrorsOnly >/dev/null
E="dotnet src/EdgeQuant.Cli/bin/Release/net10.0/edgequant.dll"
F=/usr/share/datasets/fashion-mnist
MN="$SHARED/data/mnist"
SST="$SHARED/data/sst2"
[ -d out/sst2-bert/hf ] || { echo "out/sst2-bert/hf missing: run ./build.sh zoo sst2-bert (or tools/modelzoo/sst2-bert/train.py) first" >&2; exit 1; }

acc() { grep -E '^(top-1|accuracy)' | awk '{print $2}'; }
sqnr() { grep '^compare' | grep -oE 'SQNR -?[0-9.]+' | awk '{print $2}'; }
secs() { grep '^wrote' | grep -oE 'in [0-9.]+ s$' | awk '{print $2}'; }

# Per model: the converter's source, its calibration data, the evaluation set.
src() { case $1 in vm) echo "$SHARED/models/vit-mnist/vit-mnist.onnx";; fa) echo tools/modelzoo/fashion-vit/model.onnx;; sb) echo "--hf out/sst2-bert/hf";; esac; }
cal() { case $1 in vm) echo "--calib-images $MN/t10k-images-idx3-ubyte --calib-range 9000:10000";;
                   fa) echo "--calib-images $F/train-images-idx3-ubyte.gz --calib-range 0:1000";;
                   sb) echo "--calib-text $SST/train.tsv --calib-range 0:512";; esac; }
ev() { case $1 in vm) echo "--images $MN/t10k-images-idx3-ubyte --labels $MN/t10k-labels-idx1-ubyte --range 0:9000";;
                  fa) echo "--images $F/t10k-images-idx3-ubyte.gz --labels $F/t10k-labels-idx1-ubyte.gz";;
                  sb) echo "--tsv $SST/validation.tsv";; esac; }

variants=("fp32|--precision fp32" "W8A8 min-max|--calibrator minmax" "W8A8 percentile 99.99|--calibrator percentile"
          "W8A8 MSE|--calibrator mse" "W8A8 entropy (KL)|--calibrator entropy"
          "W8A8 min-max + SmoothQuant 0.5|--calibrator minmax --smoothquant 0.5"
          "W8A8 percentile + SmoothQuant 0.5|--calibrator percentile --smoothquant 0.5"
          "W8A8 percentile + attention rank search|--calibrator percentile --attention-search"
          "W7A8 percentile (x64 vpmaddubsw path)|--calibrator percentile --weight-bits 7"
          "W8A8 integer-only, percentile|--calibrator percentile --profile integer"
          "W8A8 integer-only, min-max|--calibrator minmax --profile integer"
          "outliers: fp32|--precision fp32 --plant-outliers 4" "outliers: W8A8 min-max|--calibrator minmax --plant-outliers 4"
          "outliers: W8A8 percentile 99.99|--calibrator percentile --plant-outliers 4"
          "outliers: W8A8 min-max + SmoothQuant 0.5|--calibrator minmax --smoothquant 0.5 --plant-outliers 4"
          "outliers: W8A8 percentile + SmoothQuant 0.5|--calibrator percentile --smoothquant 0.5 --plant-outliers 4"
          "W8A8 percentile + LayerNorm rectification (SmoothQuant 1.0)|--calibrator percentile --smoothquant 1"
          "outliers: W8A8 percentile + LayerNorm rectification (SmoothQuant 1.0)|--calibrator percentile --smoothquant 1 --plant-outliers 4"
          "W8A8 min-max + gamma migration (Outlier Suppression)|--calibrator minmax --gamma-migration"
          "outliers: W8A8 min-max + gamma migration|--calibrator minmax --gamma-migration --plant-outliers 4"
          "W8A8, attention probabilities 4-bit uniform|--calibrator percentile --attention-probs u4"
          "W8A8, attention probabilities 4-bit log2 (FQ-ViT)|--calibrator percentile --attention-probs log2"
          "W8A8, attention probabilities 4-bit log-sqrt2 (RepQ-ViT)|--calibrator percentile --attention-probs logsqrt2"
          "W4A8 min-max, nearest|--calibrator percentile --weight-bits 4"
          "W4A8 + MSE weight clip|--calibrator percentile --weight-bits 4 --weight-clip mse"
          "W4A8 + MSE clip + AdaRound 500|--calibrator percentile --weight-bits 4 --weight-clip mse --adaround 500"
          "W4A8 + MSE clip + AdaRound 500, sequential (rounded-model inputs)|--calibrator percentile --weight-bits 4 --weight-clip mse --adaround 500 --sequential"
          "W4A8 + MSE clip + AdaRound, mixed precision 5 bits|--calibrator percentile --weight-bits 4 --weight-clip mse --adaround 500 --weight-budget 5"
          "W4A8 integer-only + MSE clip + AdaRound|--calibrator percentile --weight-bits 4 --weight-clip mse --adaround 500 --profile integer")
# FP32 references for the output SQNR column (eval --reference)
for m in vm fa sb; do
  # shellcheck disable=SC2046
  $E convert $(src $m) -o $OUT/$m-fp32.eqm --precision fp32 >/dev/null 2>&1
done
{
  echo "Each cell: accuracy / output SQNR against the FP32 model on the same evaluation set (\`eval --reference\`)."
  echo
  echo "| variant | vit-mnist (MNIST 0-8999) | fashion-vit (Fashion-MNIST 10k) | sst2-bert (SST-2 dev) | conversion s (vm / fa / sb) |"
  echo "|---|---|---|---|---|"
  for v in "${variants[@]}"; do
    name=${v%%|*}; args=${v#*|}
    # ABLATION_ONLY=REGEX: only the variants whose name matches (plus the FP32 rows their SQNR needs)
    if [[ -n ${ABLATION_ONLY:-} && ! $name =~ $ABLATION_ONLY && $args != "--precision fp32"* ]]; then continue; fi
    row="| $name"; times=""
    for m in vm fa sb; do
      if [[ $m == sb && $args == *plant-outliers* ]]; then row="$row | —"; continue; fi
      calib=$(cal $m); [[ $args == *fp32* ]] && calib=""
      # shellcheck disable=SC2046,SC2086  # the helpers' words are meant to split (paths have no spaces)
      t=$($E convert $(src $m) -o $OUT/$m.eqm $args $calib 2>&1 | secs)
      ref=$OUT/$m-fp32.eqm; [[ $args == *plant-outliers* ]] && ref=$OUT/$m-outliers-fp32.eqm
      [[ $args == "--precision fp32 --plant-outliers 4" ]] && cp $OUT/$m.eqm $ref
      # shellcheck disable=SC2046
      r=$($E eval $OUT/$m.eqm $(ev $m) --reference $ref 2>/dev/null)
      a=$(echo "$r" | acc); q=$(echo "$r" | sqnr)
      if [[ $args == *fp32* ]]; then row="$row | $a %"; else row="$row | $a % / $q dB"; fi
      times="$times${times:+ / }$t"
    done
    echo "$row | $times |"
  done
} | tee $OUT/ablation.md
