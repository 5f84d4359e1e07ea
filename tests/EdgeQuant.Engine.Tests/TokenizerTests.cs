using System.Text;
using EdgeQuant.Engine.Tokenization;
using EdgeQuant.Tests;
using Ml = Microsoft.ML.Tokenizers;

namespace EdgeQuant.Engine.Tests;

/// <summary>
/// WordPieceTokenizer against Microsoft.ML.Tokenizers' BertTokenizer (the spec) on the bert-base-uncased vocab.
/// Needs ICU (InvariantGlobalization=false in this project): in invariant mode ML.Tokenizers' NFD does
/// nothing and it would stop stripping accents, while our tokenizer does not depend on the mode.
/// The tests of this class share one tokenizer; xunit runs them one at a time (one class, one collection).
/// </summary>
public class TokenizerTests
{
    private static readonly string VocabPath = TestPaths.Shared("data/vocab/bert-base-uncased-vocab.txt");
    private static readonly WordPieceTokenizer Ours = WordPieceTokenizer.FromVocabText(File.ReadAllBytes(VocabPath));
    private static readonly Ml.BertTokenizer Reference = CreateReference();

    private static Ml.BertTokenizer CreateReference()
    {
        if ("\u00E9".Normalize(NormalizationForm.FormD).Length != 2)
            throw new InvalidOperationException("string.Normalize does nothing: ICU is missing or InvariantGlobalization is true, so ML.Tokenizers cannot be the reference");
        // RemoveNonSpacingMarks defaults to false in ML.Tokenizers; bert-base-uncased strips accents.
        return Ml.BertTokenizer.Create(VocabPath, new Ml.BertOptions { LowerCaseBeforeTokenization = true, RemoveNonSpacingMarks = true });
    }

    private static string[] Sst2Dev() =>
        File.ReadLines(TestPaths.Shared("data/sst2/validation.tsv")).Skip(1).Select(l => l.Split('\t')[0]).ToArray();

    private static int[] Encode(string text, int maxLength)
    {
        var ids = new int[maxLength];
        int n = Ours.Encode(text.AsSpan(), ids, maxLength);
        return ids[..n];
    }

    private static int[] Expected(string text, int? maxLength = null) =>
        (maxLength is int m ? Reference.EncodeToIds(text, m, out _, out _) : Reference.EncodeToIds(text)).ToArray();

    private static void AssertSame(int[] expected, int[] actual, string text) =>
        Assert.True(expected.SequenceEqual(actual),
            $"'{text}':\n  ML.Tokenizers {string.Join(",", expected)} ({Ours.Decode(expected)})\n  ours          {string.Join(",", actual)} ({Ours.Decode(actual)})");

    [Fact]
    public void Sst2DevMatchesMlTokenizers()
    {
        string[] sentences = Sst2Dev();
        Assert.Equal(872, sentences.Length);
        foreach (string s in sentences) AssertSame(Expected(s), Encode(s, 512), s);
    }

    private static readonly string[] HardTexts =
    [
        "café", "naïve", "Ångström", "ÉCOLE", "how do you spell cliché ?",
        "日本語", "中文字 and 漢字", "a\u3400b",                         // U+3400 is not spaced out by ML.Tokenizers
        "great 👍🏽 movie", "🤖", "\U00020000 \U0002F800",             // astral: separators (the CJK one decomposes)
        "Hello мир κόσμος 世界 مَرْحَبًا עִבְרִית हिन्दी ไทย",       // mixed scripts, Arabic/Hebrew/Devanagari marks
        "한국어 \u1100\u1161\u11A8 \uAC00\u11A8",                      // Hangul syllables, jamo that NFC composes
        new string('x', 100), new string('x', 101),                 // MaxCharsPerWord boundary
        string.Concat(Enumerable.Repeat("un", 50)),                 // 100 chars of valid pieces
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "", "   ", " \t\n\r ",                                      // empty and whitespace only
        "a\u0001b\u007Fc\u0085d\u0000e\uFFFDf",                     // controls, NUL, U+FFFD are dropped
        "good\tmovie\nbad\r\nplot",                                  // tab/newline are Cc: ML.Tokenizers joins the words
        "a\u200Db \u200B \uFEFF 👨\u200D👩\u200D👧",                   // zero-width joiner/space, BOM
        "a\u00A0b\u3000c\u2028d",                                    // NBSP, ideographic space, line separator
        "İstanbul iSTANBUL", "Straße STRASSE ẞ", "ΟΔΟΣ Σίσυφος ὁδός", "ǅungla Ǆ ǆ",
        "Ω K Å ﬁnance ＨＥＬＬＯ ①②",                                  // canonical singletons vs compatibility forms
        "x\u0301y e\u0301 a\u0903b \u0B92\u0BD7",                    // Mn dropped, Mc kept (separator), Tamil AU composed
        "wow!!! ?!?! ... --- \"quoted\" (parens) [brackets] {braces}",
        "a+b=c <tag> ~x|y^z `q` $5 100% #1 @me",                   // ASCII symbols ($+<=>^`|~) are dropped
        "[CLS] text [SEP] [cls] [MASK] [UNK] [PAD] [ClS] [CLS[SEP]]",
        "1,234,567.89 3.14 10^6 2024-01-31 ½ ² ٣",
        "https://example.com/path/to?q=1&x=y#frag user@mail.org",
        "it 's a charming and often affecting journey . ",
    ];

    public static TheoryData<string> HardCases() => new(HardTexts);

    [Theory]
    [MemberData(nameof(HardCases))]
    public void HardCaseMatchesMlTokenizers(string text)
    {
        Assert.Contains(text, HardTexts); // the theory data arrived unchanged (xunit serializes it)
        AssertSame(Expected(text), Encode(text, 512), text);
        AssertSame(Expected(text, 8), Encode(text, 8), text + " (maxLength 8)");
        AssertSame(Encode(text, 512), EncodeUtf8(text, 512), text + " (UTF-8)");
    }

    [Fact]
    public void TruncatesWholeWordsLikeMlTokenizers()
    {
        const string text = "the unbelievably overwrought screenplay of this interminable film never stops explaining itself";
        for (int max = 3; max <= 24; max++) AssertSame(Expected(text, max), Encode(text, max), $"{text} (maxLength {max})");
        int[] eight = Encode(text, 8);
        Assert.True(eight.Length <= 8);
        Assert.Equal(Ours.ClassId, eight[0]);
        Assert.Equal(Ours.SeparatorId, eight[^1]);
        Assert.Equal([Ours.ClassId, Ours.SeparatorId], Encode(text, 2)); // ML.Tokenizers throws for 2
    }

    [Fact]
    public void EveryCodePointMatchesMlTokenizers()
    {
        var failures = new List<string>();
        for (int cp = 1; cp < 0x110000; cp++)
        {
            if (cp is >= 0xD800 and <= 0xDFFF or 0xFFFE) continue; // ML.Tokenizers' NFD throws on U+FFFE
            string c = char.ConvertFromUtf32(cp);
            string text = "a" + c + "b " + c + "[cls]" + c;
            int[] expected = Expected(text), actual = Encode(text, 64);
            if (!expected.SequenceEqual(actual) && failures.Count < 20) failures.Add($"U+{cp:X4}: {Ours.Decode(expected)} vs {Ours.Decode(actual)}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void CasedOptionsMatchMlTokenizersOnNfcText()
    {
        // Without accent stripping ML.Tokenizers still applies NFC, which we do not: compare on NFC text only.
        var cased = WordPieceTokenizer.FromVocabText(File.ReadAllBytes(VocabPath), new WordPieceOptions { LowerCase = false });
        var reference = Ml.BertTokenizer.Create(VocabPath, new Ml.BertOptions { LowerCaseBeforeTokenization = false, RemoveNonSpacingMarks = false });
        var ids = new int[512];
        foreach (string s in Sst2Dev().Concat(HardTexts).Where(t => t.IsNormalized(NormalizationForm.FormC)))
        {
            int n = cased.Encode(s.AsSpan(), ids, 512);
            AssertSame(reference.EncodeToIds(s).ToArray(), ids[..n], s + " (cased)");
        }
    }

    [Theory]
    [InlineData(new byte[] { 0xC3, 0x28 }, 0)]              // bad continuation byte
    [InlineData(new byte[] { 0x61, 0xFF }, 1)]              // 0xFF never appears in UTF-8
    [InlineData(new byte[] { 0x61, 0x62, 0xF0, 0x9F, 0x91 }, 2)] // truncated 4-byte sequence
    [InlineData(new byte[] { 0xC0, 0x80 }, 0)]              // overlong NUL
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 }, 0)]        // encoded surrogate
    public void InvalidUtf8Throws(byte[] utf8, int at)
    {
        var e = Assert.Throws<ArgumentException>(() => Ours.Encode(utf8, new int[16], 16));
        Assert.Contains($"input is not valid UTF-8 at byte {at}", e.Message);
    }

    [Fact]
    public void LoneSurrogateThrows()
    {
        // Not [InlineData]: xunit would turn lone surrogates into U+FFFD when it serializes the data.
        foreach (var (text, at) in new[] { ("a\uD800b", 1), ("\uDC00", 0), ("ok \uD83D", 3), ("\uDE00\uD83D", 0) })
        {
            var e = Assert.Throws<ArgumentException>(() => Ours.Encode(text.AsSpan(), new int[16], 16));
            Assert.Contains($"lone surrogate at char {at}", e.Message);
        }
    }

    [Fact]
    public void EncodeAllocatesNothingAfterWarmUp()
    {
        string[] texts = Sst2Dev().Take(50).Concat(HardTexts).ToArray();
        byte[][] utf8 = texts.Select(Encoding.UTF8.GetBytes).ToArray();
        var ids = new int[128];
        for (int i = 0; i < texts.Length; i++) { Ours.Encode(texts[i].AsSpan(), ids, 128); Ours.Encode(utf8[i], ids, 128); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            int k = i % texts.Length;
            Ours.Encode(texts[k].AsSpan(), ids, 128);
            Ours.Encode(utf8[k], ids, 128);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Utf8AndUtf16Agree()
    {
        foreach (string s in Sst2Dev()) Assert.Equal(Encode(s, 512), EncodeUtf8(s, 512));
        var sb = new StringBuilder();
        for (int cp = 0x80; cp < 0x110000; cp += cp < 0x3000 ? 1 : 97)
            if (cp is < 0xD800 or > 0xDFFF) sb.Append(char.ConvertFromUtf32(cp)).Append(cp % 5 == 0 ? " " : "");
        string all = sb.ToString();
        Assert.Equal(Encode(all, 100_000), EncodeUtf8(all, 100_000));
    }

    private static int[] EncodeUtf8(string text, int maxLength)
    {
        var ids = new int[maxLength];
        int n = Ours.Encode(Encoding.UTF8.GetBytes(text), ids, maxLength);
        return ids[..n];
    }

    [Fact]
    public void VocabAndArgumentsAreChecked()
    {
        Assert.Equal(30522, Ours.VocabSize);
        Assert.Equal((0, 100, 101, 102), (Ours.PadId, Ours.UnknownId, Ours.ClassId, Ours.SeparatorId));
        int[] ids16 = Encode("Tokeniz\u00E4tion,running", 16);
        Assert.Equal([101, 19204, 3989, 1010, 2770, 102], ids16); // token ##ization , running
        Assert.Equal("[CLS] tokenization , running [SEP]", Ours.Decode(ids16));

        string[] small = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##want", "##ed", "runn", "##ing", ","];
        var fromText = WordPieceTokenizer.FromVocabText(Encoding.UTF8.GetBytes(string.Join("\r\n", small) + "\r\n"));
        Assert.Equal(small.Length, fromText.VocabSize);
        var ids = new int[8];
        int n = fromText.Encode("unwanted, running"u8, ids, 8);
        Assert.Equal([2, 5, 6, 7, 10, 8, 9, 3], ids[..n]);

        var dup = Assert.Throws<ArgumentException>(() => new WordPieceTokenizer([.. small, "##ed"]));
        Assert.Contains("'##ed'", dup.Message);
        var missing = Assert.Throws<ArgumentException>(() => new WordPieceTokenizer(small, new WordPieceOptions { ClassToken = "<s>" }));
        Assert.Contains("'<s>'", missing.Message);
        var noMask = new WordPieceTokenizer([.. small[..4], "x"]); // [MASK] is optional
        int m = noMask.Encode("x [PAD] x"u8, ids, 8);
        Assert.Equal([2, 4, 0, 4, 3], ids[..m]);
        Assert.Throws<ArgumentOutOfRangeException>(() => Ours.Encode("x"u8, new int[8], 1));
        Assert.Throws<ArgumentException>(() => Ours.Encode("x"u8, new int[4], 8));
    }
}
