using System.Diagnostics;
using EdgeQuant.Engine;

namespace EdgeQuant.Bench;

/// <summary>
/// <c>tokenize MODEL.eqm SENTENCES.tsv [rounds]</c>: throughput of the model's WordPiece tokenizer over the TSV's first
/// column (header skipped), UTF-16 and UTF-8 inputs; median of the rounds, ids/s including [CLS]/[SEP].
/// </summary>
internal static class TokenizerBench
{
    public static int Execute(string[] args)
    {
        if (args.Length < 2) { Console.Error.WriteLine("usage: tokenize MODEL.eqm SENTENCES.tsv [rounds=15]"); return 2; }
        int rounds = args.Length > 2 ? int.Parse(args[2]) : 15;
        using var model = Model.Load(args[0]);
        var tok = model.CreateTokenizer();
        string[] text = File.ReadLines(args[1]).Skip(1).Where(l => l.Length > 0).Select(l => l.Split('\t')[0]).ToArray();
        byte[][] utf8 = text.Select(t => System.Text.Encoding.UTF8.GetBytes(t)).ToArray();
        var ids = new int[model.MaxTokens];
        foreach (var (name, run) in new (string, Func<long>)[]
        {
            ("UTF-16", () => { long n = 0; foreach (string t in text) n += tok.Encode(t, ids, ids.Length); return n; }),
            ("UTF-8", () => { long n = 0; foreach (byte[] t in utf8) n += tok.Encode(t, ids, ids.Length); return n; }),
        })
        {
            // Warm-up, with pauses so the tiered JIT's background compiler installs optimized code before timing.
            for (int w = 0; w < 4; w++)
            {
                for (int i = 0; i < 5; i++) run();
                Thread.Sleep(300);
            }
            var rates = new List<(double Ids, double Sentences)>();
            for (int r = 0; r < rounds; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                long n = run();
                double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                rates.Add((n / s, text.Length / s));
            }
            rates.Sort();
            var med = rates[rates.Count / 2];
            Console.WriteLine($"{name}: {text.Length} sentences, median {med.Ids / 1e6:F2} M ids/s, {med.Sentences / 1e3:F0} k sentences/s ({rounds} rounds)");
        }
        return 0;
    }
}
