using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using EdgeQuant.Bench;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
return args.Length > 0 && args[0] switch
{
    "e2e" => EndToEnd.Compare(args[1..]),
    "one" => EndToEnd.One(args[1..]),
    "kernels" => KernelBenchmarks.Execute(args[1..]),
    "gemm" => QuickGemm.Execute(args[1..]),
    "reference" => TorchReference.Execute(args[1..]),
    "tokenize" => TokenizerBench.Execute(args[1..]),
    _ => -1,
} is int rc and not -1 ? rc : Usage();

static int Usage()
{
    Console.Error.WriteLine("""
        usage:
          EdgeQuant.Bench e2e --name NAME --onnx M.onnx --int8dyn M.int8dyn.onnx --eqm M.eqm [--input X.npy | --seq 128] [--threads 1,2] [--runs N] [--warmup W] [--json results.jsonl]
              EdgeQuant INT8 vs ONNX Runtime FP32 and INT8 (dynamic) on the same model, batch 1; each engine in a child
              process (clean peak RSS); prints median/p90 latency, ratios and peak RSS.
          EdgeQuant.Bench reference MODEL.eqm REFERENCE.json
              FP32/INT8 engine logits vs PyTorch's for the "items" (input_ids, logits) of a reference file.
          EdgeQuant.Bench tokenize MODEL.eqm SENTENCES.tsv [rounds]
              WordPiece tokenizer throughput (ids/s, sentences/s) over a TSV's first column.
          EdgeQuant.Bench kernels [BenchmarkDotNet args, e.g. --filter *Gemm*]
              GMAC/s of every GEMM path on transformer shapes, and register-resident instruction peaks.
        """);
    return 2;
}
