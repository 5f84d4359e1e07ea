using System.Text.Json;
using EdgeQuant.Engine;

namespace EdgeQuant.Bench;

/// <summary>
/// <c>reference MODEL.eqm REFERENCE.json</c>: runs the "items" (input_ids, logits from PyTorch FP32; written by
/// tools/modelzoo/sst2-bert/train.py and tools/bench/make_bert_base.py) through the engine and prints the max abs
/// logit difference and argmax agreement.
/// </summary>
internal static class TorchReference
{
    public static int Execute(string[] args)
    {
        if (args.Length != 2) { Console.Error.WriteLine("usage: reference MODEL.eqm REFERENCE.json"); return 2; }
        using var model = Model.Load(args[0]);
        using var s = model.CreateSession();
        using var doc = JsonDocument.Parse(File.ReadAllBytes(args[1]));
        float worst = 0;
        int n = 0, agree = 0;
        foreach (var item in doc.RootElement.GetProperty("items").EnumerateArray())
        {
            int[] ids = item.GetProperty("input_ids").EnumerateArray().Select(v => v.GetInt32()).ToArray();
            float[] expected = item.GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            var y = new float[model.OutputLength];
            s.RunTokens(ids, default, default, y);
            for (int j = 0; j < y.Length; j++) worst = Math.Max(worst, Math.Abs(y[j] - expected[j]));
            if (Array.IndexOf(y, y.Max()) == Array.IndexOf(expected, expected.Max())) agree++;
            n++;
        }
        Console.WriteLine($"{Path.GetFileName(args[0])} ({model.Metadata.Precision}) vs {Path.GetFileName(args[1])}: {n} inputs, max abs logit diff {worst:E3}, argmax agreement {agree}/{n}");
        return 0;
    }
}
