using System.Diagnostics;
using System.Globalization;
using EdgeQuant.Cli;
using EdgeQuant.Converter.Onnx;
using EdgeQuant.Format;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(Commands.Usage);
    return args.Length == 0 ? 2 : 0;
}
try
{
    return args[0] switch
    {
        "convert" => Commands.Convert(args[1..]),
        "info" => Commands.Info(args[1..]),
        "run" => Commands.Run(args[1..]),
        "eval" => Commands.Eval(args[1..]),
        "embed" => Commands.Embed(args[1..]),
        "generate" => Commands.Generate(args[1..]),
        "perplexity" => Commands.Perplexity(args[1..]),
        "selftest" => SelfTest.Execute(args[1..]),
        "--version" or "version" => Commands.Version(),
        _ => throw new UsageException($"unknown command '{args[0]}'"),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine($"edgequant: {e.Message}\n\n{Commands.Usage}");
    return 2;
}
catch (Exception e) when (e is ModelFormatException or OnnxImportException or EdgeQuant.Converter.HuggingFace.HfImportException or InvalidOperationException or ArgumentException or InvalidDataException or FormatException or IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"edgequant: error: {e.Message}");
    return 1;
}

namespace EdgeQuant.Cli
{
    internal static partial class Commands
    {
        public const string Usage = """
            usage: edgequant <command> [options]

              convert MODEL.onnx -o OUT.eqm   import a PyTorch-exported ONNX ViT or BERT-family encoder
              convert --hf DIR -o OUT.eqm     import a Hugging Face folder (config.json + safetensors + vocab):
                                               BERT, MiniLM, RoBERTa, DistilBERT, ViT, DeiT; decoder LLMs:
                                               Llama family (TinyLlama, SmolLM, Mistral), Qwen2, GPT-2
                                               (int8: weights only, --weight-bits 8|4, --group-size 32|64|128)
                  --precision int8|fp32        (default int8: static PTQ)
                  --calib-images IDX           calibration images (IDX3, e.g. MNIST t10k-images-idx3-ubyte[.gz])
                  --calib-range A:B            use images A..B-1 (default 0:1000)
                  --calib-random N             N seeded noise images instead (smoke tests only)
                  --calib-text TSV             text models: calibration sentences (first column or "sentence";
                                               --calib-range A:B, default the first 512)
                  --calib-ids FILE             text models without a vocabulary: one comma-separated token id list per line
                  --head classification|embedding   --max-length N   --vocab vocab.txt (ONNX BERT)
                  --calibrator minmax|percentile|mse|entropy   (default percentile)   --percentile P (default 99.99)
                  --smoothquant ALPHA          SmoothQuant migration (e.g. 0.5) for the QKV and MLP inputs
                  --attention-probs u8|u4|log2|logsqrt2   attention probabilities: 8-bit (default), 4-bit uniform,
                                               4-bit log2 codes with shift-add P·V (FQ-ViT Log-Int-Softmax), or
                                               4-bit log-sqrt2 codes, two shift sums (RepQ-ViT)
                  --gamma-migration            Outlier Suppression: LayerNorm |gamma| moved into the QKV/MLP weights
                  --attention-search           search Q/K scales per block with the attention rank-consistency loss
                  --profile mixed|integer      integer: int32 residual stream and integer LayerNorm (I-BERT style)
                  --plan-int8-min-macs N       plan models: stem/head Linear and Conv ops with >= N MACs run in int8 (32768)
                  --report FILE.html           quantization report: SQNR per quantization point and layer, ranges, outliers
                  --plant-outliers N[:F]       experiments: N channels x F (50) in the LayerNorms feeding linears
                  --weight-bits 8|7|4          7: weights in [-63, 63], enables the x64 vpmaddubsw fast path;
                                               4: packed 4-bit block linears (W4A8; ViT patch/head stay 8-bit)
                  --weight-clip minmax|mse     per-channel weight scale: max|w|, or the clip minimizing output error
                  --adaround N                 learned rounding of the block linears, N Adam steps per layer (e.g. 500)
                      --adaround-lr LR (0.05)  --adaround-lambda L (10)
                      --sequential             block by block against the inputs of the already-rounded blocks
                  --time-budget SECONDS        wall-clock limit for --adaround (later layers get fewer steps)
                  --weight-budget BITS         with --weight-bits 4: mixed precision, the most sensitive block
                                               linears at 8 bits, on average at most BITS per weight (e.g. 5)
                  --labels a,b,c | --labels-file FILE   class names
                  --pixel-scale S --mean m1,.. --std s1,..   input convention (default pixel/255)
              info MODEL.eqm                   header, metadata, tensors and quantization summary
              run MODEL.eqm IMAGE              classify one image (binary PGM/PPM, or IDX file with --index N)
              run MODEL.eqm --text "..." | --ids 101,...,102    text models: labels or embedding
                  --top K (default 5)   --bits (logits as IEEE-754 hex)   --threads N   --repeat N (time N runs)
                  --profile (time per step: stem ops, each block's norms/GEMMs/attention, head; over --repeat runs, default 500)
              eval MODEL.eqm --images IDX --labels IDX [--range A:B] [--threads N] [--reference FP32.eqm]
                                               accuracy, latency median/p90, peak RSS
              eval MODEL.eqm --tsv FILE [--range A:B] [--threads N]   text models (sentence<TAB>label)
                  --reference FP32.eqm         also: top-1 agreement and output SQNR against that model
              embed MODEL.eqm TEXT... [--file LINES] [--output X.f32] [--no-normalize]
                                               sentence embeddings and their cosine similarities
              generate MODEL.eqm --ids 1,2,3   decoder LLMs: stream generated token ids, then tokens/s
                  --max-tokens N (64)   --temperature T (0: greedy)   --top-k K (40)   --top-p P (0.95)
                  --repetition-penalty R (1)   --seed S   --stop-ids a,b   --threads N   --context N
                  --profile (time per step of the decode steps)   --kv-int8 (int8 key/value cache, a quarter of the memory)
              perplexity MODEL.eqm --ids-file FILE   decoder LLMs: perplexity of each line's tokens [--kv-int8 --context N]
              selftest [MODEL.eqm ...] [--images IDX] [--count N]
                                               check every kernel path against the reference on this CPU,
                                               engine invariants, and print a hash of the model's outputs
              version
            """;

        public static int Version()
        {
            Console.WriteLine($"{Converter.FloatEncoder.ConverterVersion}; format v{ModelFileLayout.FormatVersion}, quant scheme v{ModelFileLayout.QuantSchemeVersion}; " +
                $"{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}; kernels: {string.Join(", ", Kernels.KernelTable.Available)}");
            return 0;
        }

        /// <summary>Peak resident set size of this process in MiB (Linux VmHWM), or -1.</summary>
        public static double PeakRssMiB()
        {
            try
            {
                foreach (string line in File.ReadLines("/proc/self/status"))
                    if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                        return double.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
            }
            catch (IOException) { }
            return -1;
        }

        public static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p / 100.0 * sorted.Count) - 1)];

        public static int Argmax(ReadOnlySpan<float> v)
        {
            int best = 0;
            for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
            return best;
        }

        public static double Elapsed(long start) => Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
}
