using EdgeQuant.Engine.Tokenization;

namespace EdgeQuant.Fuzz;

/// <summary>
/// The WordPiece tokenizer: a fuzzed vocab.txt and options, then fuzzed text. Input: flags byte (lower case, accent
/// stripping, CJK splitting), max-length byte, vocab, separator, text. Expected: <see cref="ArgumentException"/> for a
/// bad vocabulary or invalid UTF-8. Asserted on every success: [CLS] first, [SEP] last, every id inside the
/// vocabulary, at most max-length ids, and the UTF-8 and UTF-16 entry points giving the same ids (two code paths,
/// one answer).
/// </summary>
public sealed class TokenizerHarness : Harness
{
    public override string Name => "wordpiece";
    public override string Description => "WordPiece vocab + options + text; UTF-8 and UTF-16 paths must agree";

    private readonly int[] _a = new int[260], _b = new int[260];

    public override void Run(ReadOnlySpan<byte> input)
    {
        if (input.Length < 2) return;
        byte flags = input[0];
        int max = 2 + input[1];
        var parts = SplitParts(input[2..].ToArray(), 2);
        var options = new WordPieceOptions
        {
            LowerCase = (flags & 1) != 0,
            StripAccents = (flags >> 1 & 3) switch { 0 => null, 1 => true, _ => false },
            TokenizeChineseChars = (flags & 8) == 0,
            MaxCharsPerWord = 1 + (flags >> 4) * 8,
        };
        WordPieceTokenizer t;
        try { t = WordPieceTokenizer.FromVocabText(parts[0].Span, options); }
        catch (ArgumentException) { return; }
        var text = parts.Count > 1 ? parts[1].Span : default;
        int n;
        try { n = t.Encode(text, _a, max); }
        catch (ArgumentException) when (!System.Text.Unicode.Utf8.IsValid(text)) { return; }
        if (n < 2 || n > max || _a[0] != t.ClassId || _a[n - 1] != t.SeparatorId)
            throw new FuzzFinding($"encode gave {n} ids (max {max}) not framed by [CLS] {t.ClassId} ... [SEP] {t.SeparatorId}");
        for (int i = 0; i < n; i++)
            if ((uint)_a[i] >= (uint)t.VocabSize) throw new FuzzFinding($"id {_a[i]} at {i} is outside the vocabulary of {t.VocabSize}");
        int m = t.Encode(System.Text.Encoding.UTF8.GetString(text), _b, max);
        if (m != n || !_a.AsSpan(0, n).SequenceEqual(_b.AsSpan(0, m)))
            throw new FuzzFinding($"UTF-8 and UTF-16 encodings differ: [{string.Join(',', _a[..n])}] vs [{string.Join(',', _b[..m])}]");
        _ = t.Decode(_a.AsSpan(0, n));
    }

    public override void WriteSeeds(string repoRoot, string dir)
    {
        var vocab = File.ReadAllBytes(Path.Combine(repoRoot, "tests", "assets", "plm", "bert_cls", "vocab.txt"));
        string[] texts = ["Hello, World! isn't it?", "naïve café ÉCOLE résumé", "中文字符 and 日本語 かな", "emoji 😀👍🏽 here", "12345678901234567890 3.14", "a\u0301\u0308 \u00ad soft\u200bhyphen", "  leading\tand\r\ntrailing  ", "unbelievably unaffable"];
        for (int i = 0; i < texts.Length; i++)
            File.WriteAllBytes(Path.Combine(dir, $"text{i}.wordpiece.fuzz"), [(byte)(i % 2 == 0 ? 1 : 0x13), (byte)(10 + i * 20), .. JoinParts(vocab, System.Text.Encoding.UTF8.GetBytes(texts[i]))]);
    }
}
