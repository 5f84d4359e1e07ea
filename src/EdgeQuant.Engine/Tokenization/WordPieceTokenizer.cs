using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;

namespace EdgeQuant.Engine.Tokenization;

/// <summary>Options of <see cref="WordPieceTokenizer"/>; the defaults are those of bert-base-uncased.</summary>
public sealed class WordPieceOptions
{
    /// <summary>Lower-case upper-case letters (category Lu) before splitting. Default true.</summary>
    public bool LowerCase { get; set; } = true;

    /// <summary>
    /// Remove accents (NFD, then drop non-spacing marks, category Mn). Null (default) means "same as
    /// <see cref="LowerCase"/>", as in Hugging Face. When false, ML.Tokenizers still ends with NFC and this
    /// tokenizer does not (it composes Hangul only), so text that is not already NFC (e.g. "e" + U+0301,
    /// U+212B ANGSTROM SIGN) can get different ids in that mode.
    /// </summary>
    public bool? StripAccents { get; set; }

    /// <summary>Put spaces around CJK ideographs so each becomes its own word. Default true.</summary>
    public bool TokenizeChineseChars { get; set; } = true;

    /// <summary>Token for words that cannot be split into vocabulary pieces. Default "[UNK]".</summary>
    public string UnknownToken { get; set; } = "[UNK]";

    /// <summary>Token written first. Default "[CLS]".</summary>
    public string ClassToken { get; set; } = "[CLS]";

    /// <summary>Token written last. Default "[SEP]".</summary>
    public string SeparatorToken { get; set; } = "[SEP]";

    /// <summary>Padding token (only its id is exposed). Default "[PAD]".</summary>
    public string PadToken { get; set; } = "[PAD]";

    /// <summary>
    /// Mask token, recognised in text like the other special tokens (as ML.Tokenizers does). Default "[MASK]";
    /// null, or a token missing from the vocabulary, means none.
    /// </summary>
    public string? MaskToken { get; set; } = "[MASK]";

    /// <summary>Words longer than this (in UTF-16 code units) become the unknown token. Default 100.</summary>
    public int MaxCharsPerWord { get; set; } = 100;
}

/// <summary>
/// BERT WordPiece tokenizer that produces the same ids as Microsoft.ML.Tokenizers' <c>BertTokenizer</c>
/// (with <c>RemoveNonSpacingMarks</c> set like <see cref="WordPieceOptions.StripAccents"/>), without ICU and
/// without allocating in <see cref="Encode(ReadOnlySpan{byte}, Span{int}, int)"/>.
/// </summary>
/// <remarks>
/// <para>Pipeline (ML.Tokenizers' BertNormalizer + "\w+|\p{P}" pre-tokenizer + WordPiece):
/// strip accents with <see cref="AccentTable"/>; drop U+0000, U+FFFD and control characters (Cc, which
/// includes tab, CR and LF: ML.Tokenizers joins the words around them); map space separators (Zs) to a
/// space; drop non-spacing marks (Mn) when stripping; lower-case letters of category Lu with the invariant culture;
/// space out CJK ideographs; compose what NFC would still compose (ML.Tokenizers ends with NFC: Hangul
/// jamo and a few Tamil/Balinese letters once marks are gone); then special tokens are
/// matched, runs of word characters (letters, Mn, Nd, Pc: the regex \w, one UTF-16 unit at a time) become
/// words, each punctuation character (P*) is a word of its own and everything else — spaces, symbols (S*),
/// format characters and every character outside the BMP (emoji) — only separates words.</para>
/// <para>Truncation follows ML.Tokenizers' <c>EncodeToIds(text, maxTokenCount, ...)</c>: whole words only; the
/// first word whose pieces do not fit ends the encoding.</para>
/// <para>Encode validates the whole input, then reads it only until maxLength ids are produced; its scratch
/// (a 16-char look-ahead ring and one word of MaxCharsPerWord chars) does not grow with the text.
/// Encode is not thread-safe (the scratch is per instance): use one tokenizer per thread.</para>
/// </remarks>
public sealed class WordPieceTokenizer
{
    private const char Eof = '\0'; // never produced by the normalizer (U+0000 is dropped)

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly string?[] _tokens;
    private readonly bool _lower, _strip, _cjk;
    private readonly int _maxCharsPerWord, _maxPieceChars, _maxContinuationChars;
    private readonly string[] _specials;   // normalized (lower-cased) as ML.Tokenizers matches them
    private readonly int[] _specialIds;
    private readonly string _specialFirstChars;

    // Scratch, reused by every Encode call.
    private readonly char[] _word;         // "##" + current word; continuation prefixes are written in place
    private readonly char[] _ring;         // look-ahead over the normalized text

    /// <summary>Creates a tokenizer from the vocabulary (token id = index).</summary>
    /// <param name="vocab">Tokens; empty entries are skipped (their ids stay unused), as in ML.Tokenizers.</param>
    /// <param name="options">Options; null means the bert-base-uncased defaults.</param>
    /// <exception cref="ArgumentException">A token appears twice or a special token is missing.</exception>
    public WordPieceTokenizer(IReadOnlyList<string> vocab, WordPieceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        options ??= new WordPieceOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxCharsPerWord, 1, nameof(options.MaxCharsPerWord));
        _lower = options.LowerCase;
        _strip = options.StripAccents ?? options.LowerCase;
        _cjk = options.TokenizeChineseChars;
        _maxCharsPerWord = options.MaxCharsPerWord;

        _vocab = new Dictionary<string, int>(vocab.Count, StringComparer.Ordinal);
        _tokens = new string?[vocab.Count];
        for (int id = 0; id < vocab.Count; id++)
        {
            string t = vocab[id] ?? throw new ArgumentException($"vocab entry {id} is null", nameof(vocab));
            if (t.Length == 0) continue;
            if (!_vocab.TryAdd(t, id))
                throw new ArgumentException($"duplicate vocab token '{t}' at ids {_vocab[t]} and {id}", nameof(vocab));
            _tokens[id] = t;
            // Longest possible match, so the greedy search need not try longer substrings.
            if (t.StartsWith("##", StringComparison.Ordinal)) _maxContinuationChars = Math.Max(_maxContinuationChars, t.Length - 2);
            _maxPieceChars = Math.Max(_maxPieceChars, t.Length);
        }
        _lookup = _vocab.GetAlternateLookup<ReadOnlySpan<char>>();

        UnknownId = Require(options.UnknownToken, nameof(options.UnknownToken));
        ClassId = Require(options.ClassToken, nameof(options.ClassToken));
        SeparatorId = Require(options.SeparatorToken, nameof(options.SeparatorToken));
        PadId = Require(options.PadToken, nameof(options.PadToken));

        // ML.Tokenizers' order (first alternative wins at one position); matched after lower-casing.
        var specials = new List<(string, int)>();
        foreach (var (tok, id) in new[] { (options.UnknownToken, UnknownId), (options.SeparatorToken, SeparatorId),
                                          (options.PadToken, PadId), (options.ClassToken, ClassId) })
            specials.Add((tok, id));
        if (options.MaskToken is { Length: > 0 } mask && _vocab.TryGetValue(mask, out int maskId)) specials.Add((mask, maskId));
        _specials = new string[specials.Count];
        _specialIds = new int[specials.Count];
        string firsts = "";
        int longestSpecial = 0;
        for (int i = 0; i < specials.Count; i++)
        {
            _specials[i] = _lower ? specials[i].Item1.ToLowerInvariant() : specials[i].Item1;
            _specialIds[i] = specials[i].Item2;
            if (!firsts.Contains(_specials[i][0])) firsts += _specials[i][0];
            longestSpecial = Math.Max(longestSpecial, _specials[i].Length);
        }
        _specialFirstChars = firsts;

        _word = new char[_maxCharsPerWord + 2];
        _ring = new char[(int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, longestSpecial + 8))];
    }

    private int Require(string token, string option)
    {
        if (string.IsNullOrEmpty(token)) throw new ArgumentException($"{option} is empty", option);
        return _vocab.TryGetValue(token, out int id) ? id
            : throw new ArgumentException($"special token '{token}' ({option}) is not in the vocabulary", option);
    }

    /// <summary>Creates a tokenizer from the bytes of a vocab.txt file (UTF-8, one token per line, id = line number).</summary>
    /// <param name="utf8VocabFile">File contents; "\r\n" line ends, a leading BOM and a trailing newline are accepted.</param>
    /// <param name="options">Options; null means the bert-base-uncased defaults.</param>
    /// <exception cref="ArgumentException">The file is not UTF-8, a token appears twice or a special token is missing.</exception>
    public static WordPieceTokenizer FromVocabText(ReadOnlySpan<byte> utf8VocabFile, WordPieceOptions? options = null)
    {
        if (utf8VocabFile.StartsWith("\uFEFF"u8)) utf8VocabFile = utf8VocabFile[3..];
        if (!Utf8.IsValid(utf8VocabFile)) throw new ArgumentException("vocab file is not valid UTF-8", nameof(utf8VocabFile));
        var tokens = new List<string>();
        while (!utf8VocabFile.IsEmpty)
        {
            int nl = utf8VocabFile.IndexOf((byte)'\n');
            var line = nl < 0 ? utf8VocabFile : utf8VocabFile[..nl];
            if (line.EndsWith("\r"u8)) line = line[..^1];
            tokens.Add(Encoding.UTF8.GetString(line));
            utf8VocabFile = nl < 0 ? default : utf8VocabFile[(nl + 1)..];
        }
        return new WordPieceTokenizer(tokens, options);
    }

    /// <summary>Number of ids (vocabulary lines, including skipped empty ones).</summary>
    public int VocabSize => _tokens.Length;

    /// <summary>Id of the class token, written first.</summary>
    public int ClassId { get; }

    /// <summary>Id of the separator token, written last.</summary>
    public int SeparatorId { get; }

    /// <summary>Id of the padding token.</summary>
    public int PadId { get; }

    /// <summary>Id of the unknown token.</summary>
    public int UnknownId { get; }

    /// <summary>
    /// Encodes UTF-8 text as [CLS] pieces... [SEP], truncating whole words so the total is at most
    /// <paramref name="maxLength"/>. Allocates nothing.
    /// </summary>
    /// <param name="utf8">The text, UTF-8.</param>
    /// <param name="ids">Receives the ids; must hold at least <paramref name="maxLength"/> entries.</param>
    /// <param name="maxLength">Most ids to write, [CLS] and [SEP] included (at least 2).</param>
    /// <returns>The number of ids written to <paramref name="ids"/>.</returns>
    /// <exception cref="ArgumentException">The input is not valid UTF-8, or <paramref name="ids"/> is too short.</exception>
    public int Encode(ReadOnlySpan<byte> utf8, Span<int> ids, int maxLength)
    {
        CheckLengths(ids, maxLength);
        if (!Utf8.IsValid(utf8)) ThrowInvalidUtf8(utf8);
        var input = new Normalizer(this, utf8, default, isUtf8: true);
        return EncodeCore(ref input, ids, maxLength);
    }

    /// <summary>
    /// Encodes UTF-16 text as [CLS] pieces... [SEP], truncating whole words so the total is at most
    /// <paramref name="maxLength"/>. Allocates nothing.
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="ids">Receives the ids; must hold at least <paramref name="maxLength"/> entries.</param>
    /// <param name="maxLength">Most ids to write, [CLS] and [SEP] included (at least 2).</param>
    /// <returns>The number of ids written to <paramref name="ids"/>.</returns>
    /// <exception cref="ArgumentException">The text has a lone surrogate, or <paramref name="ids"/> is too short.</exception>
    public int Encode(ReadOnlySpan<char> text, Span<int> ids, int maxLength)
    {
        CheckLengths(ids, maxLength);
        // As ushort: the char overload of IndexOfAnyInRange allocates (96 bytes per call in .NET 10.0.12).
        int bad = MemoryMarshal.Cast<char, ushort>(text).IndexOfAnyInRange((ushort)0xD800, (ushort)0xDFFF);
        if (bad >= 0) CheckSurrogates(text, bad);
        var input = new Normalizer(this, default, text, isUtf8: false);
        return EncodeCore(ref input, ids, maxLength);
    }

    /// <summary>Debugging helper: the tokens of <paramref name="ids"/>, space-separated, "##" pieces glued to the previous one.</summary>
    /// <param name="ids">Token ids.</param>
    /// <returns>The text; unknown ids appear as "[?id]".</returns>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var sb = new StringBuilder();
        foreach (int id in ids)
        {
            string? t = (uint)id < (uint)_tokens.Length ? _tokens[id] : null;
            if (t is null) { sb.Append(sb.Length > 0 ? " " : "").Append("[?").Append(id).Append(']'); continue; }
            if (t.StartsWith("##", StringComparison.Ordinal) && t.Length > 2) sb.Append(t, 2, t.Length - 2);
            else sb.Append(sb.Length > 0 ? " " : "").Append(t);
        }
        return sb.ToString();
    }

    private static void CheckLengths(Span<int> ids, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        if (ids.Length < maxLength) throw new ArgumentException($"ids holds {ids.Length} entries, fewer than maxLength {maxLength}", nameof(ids));
    }

    private static void ThrowInvalidUtf8(ReadOnlySpan<byte> utf8)
    {
        int pos = 0;
        while (Rune.DecodeFromUtf8(utf8[pos..], out _, out int n) == System.Buffers.OperationStatus.Done) pos += n;
        throw new ArgumentException($"input is not valid UTF-8 at byte {pos}", nameof(utf8));
    }

    private static void CheckSurrogates(ReadOnlySpan<char> text, int i)
    {
        for (; i < text.Length; i++)
        {
            if (!char.IsSurrogate(text[i])) continue;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            throw new ArgumentException($"input has a lone surrogate at char {i}", nameof(text));
        }
    }

    private int EncodeCore(ref Normalizer input, Span<int> ids, int maxLength)
    {
        int n = 0, end = maxLength - 1; // ids[end] is kept for [SEP]
        ids[n++] = ClassId;
        int wordLen = 0;
        while (n < end)
        {
            char c = input.Peek(0);
            if (_specialFirstChars.Contains(c) && MatchSpecial(ref input, out int special, out int len))
            {
                if (!FlushWord(ids, ref n, end, ref wordLen)) break;
                ids[n++] = special;
                input.Skip(len);
                continue;
            }
            if (c == Eof) { FlushWord(ids, ref n, end, ref wordLen); break; }
            var kind = Classify(c);
            if (kind == CharKind.Word)
            {
                if (wordLen < _maxCharsPerWord) _word[2 + wordLen] = c;
                wordLen++; // counted past the limit, stored only up to it (such a word is [UNK] anyway)
                input.Skip(1);
                continue;
            }
            if (!FlushWord(ids, ref n, end, ref wordLen)) break;
            if (kind == CharKind.Punctuation && n < end)
                ids[n++] = _lookup.TryGetValue(new ReadOnlySpan<char>(in c), out int id) ? id : UnknownId;
            input.Skip(1);
        }
        ids[n++] = SeparatorId;
        return n;
    }

    /// <summary>WordPiece of the pending word into ids[n..end). False when encoding must stop.</summary>
    private bool FlushWord(Span<int> ids, ref int n, int end, ref int wordLen)
    {
        int len = wordLen;
        if (len == 0) return n < end;
        wordLen = 0;
        if (len > _maxCharsPerWord) { ids[n++] = UnknownId; return n < end; }

        // Greedy longest match. A continuation "##" + word[start..] is formed in place by writing
        // "##" over the two (already consumed) characters before start.
        int start = 0, count = 0;
        bool bad = false;
        while (start < len)
        {
            int limit = start == 0 ? _maxPieceChars : _maxContinuationChars;
            int stop = Math.Min(len, start + limit), id = -1;
            if (start > 0) { _word[start] = '#'; _word[start + 1] = '#'; }
            int from = start == 0 ? 2 : start, extra = start == 0 ? 0 : 2;
            for (; stop > start; stop--)
                if (_lookup.TryGetValue(_word.AsSpan(from, extra + stop - start), out id)) break;
            if (stop == start) { bad = true; break; }
            // ML.Tokenizers drops a word (and stops) when its matched pieces exceed the room left,
            // checked before it falls back to [UNK]; mirror that order.
            if (n + count >= end) { return false; }
            ids[n + count++] = id;
            start = stop;
        }
        if (bad) { ids[n++] = UnknownId; return n < end; }
        n += count;
        return n < end;
    }

    private bool MatchSpecial(ref Normalizer input, out int id, out int len)
    {
        for (int s = 0; s < _specials.Length; s++)
        {
            string t = _specials[s];
            int j = 0;
            while (j < t.Length && input.Peek(j) == t[j]) j++;
            if (j == t.Length) { id = _specialIds[s]; len = j; return true; }
        }
        id = len = 0;
        return false;
    }

    private enum CharKind : byte { Other, Word, Punctuation }

    // One UTF-16 unit at a time, as the .NET regex "\w+|[\p{P}]" does: surrogates are neither.
    private static CharKind Classify(char c)
    {
        if (c < 128) return AsciiKinds[c];
        return CharUnicodeInfo.GetUnicodeCategory(c) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.NonSpacingMark
                or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation => CharKind.Word,
            UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation
                or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
                or UnicodeCategory.OtherPunctuation => CharKind.Punctuation,
            _ => CharKind.Other,
        };
    }

    private static readonly CharKind[] AsciiKinds = BuildAsciiKinds();

    private static CharKind[] BuildAsciiKinds()
    {
        var k = new CharKind[128];
        for (int c = 0; c < 128; c++)
            k[c] = char.IsAsciiLetterOrDigit((char)c) || c == '_' ? CharKind.Word
                 : char.IsPunctuation((char)c) ? CharKind.Punctuation : CharKind.Other; // $+<=>^`|~ are symbols: Other
        return k;
    }

    // BERT's CJK ranges, except U+3400 itself: ML.Tokenizers tests "codePoint > 0x3400".
    private static bool IsCjk(int cp) => cp > 0x3400 && (
        (uint)(cp - 0x4E00) <= 0x9FFF - 0x4E00 || (uint)(cp - 0x3400) <= 0x4DBF - 0x3400 ||
        (uint)(cp - 0xF900) <= 0xFAFF - 0xF900 || (uint)(cp - 0x20000) <= 0x2A6DF - 0x20000 ||
        (uint)(cp - 0x2A700) <= 0x2CEAF - 0x2A700 || (uint)(cp - 0x2F800) <= 0x2FA1F - 0x2F800);

    /// <summary>
    /// Decodes the input and yields normalized UTF-16 units on demand, with look-ahead for special tokens.
    /// Input must be valid (checked before). Emits at most 4 units per code point, so the ring never overflows.
    /// </summary>
    private ref struct Normalizer
    {
        private readonly WordPieceTokenizer _t;
        private readonly ReadOnlySpan<byte> _utf8;
        private readonly ReadOnlySpan<char> _utf16;
        private readonly bool _isUtf8;
        private readonly Span<char> _ring;
        private int _pos, _head, _count;
        private char _held; // last character, held back while the next one could compose with it (NFC)
        private bool _done;

        public Normalizer(WordPieceTokenizer t, ReadOnlySpan<byte> utf8, ReadOnlySpan<char> utf16, bool isUtf8)
        {
            _t = t; _utf8 = utf8; _utf16 = utf16; _isUtf8 = isUtf8; _ring = t._ring;
        }

        public char Peek(int k)
        {
            while (_count <= k && !_done) Fill();
            return k < _count ? _ring[(_head + k) & (_ring.Length - 1)] : Eof;
        }

        public void Skip(int k)
        {
            _head = (_head + k) & (_ring.Length - 1);
            _count -= k;
        }

        private int NextCodePoint()
        {
            if (_isUtf8)
            {
                if (_pos >= _utf8.Length) return -1;
                byte b = _utf8[_pos];
                if (b < 0x80) { _pos++; return b; }
                Rune.DecodeFromUtf8(_utf8[_pos..], out Rune r, out int n);
                _pos += n;
                return r.Value;
            }
            if (_pos >= _utf16.Length) return -1;
            char c = _utf16[_pos++];
            return char.IsHighSurrogate(c) ? char.ConvertToUtf32(c, _utf16[_pos++]) : c;
        }

        private void Fill()
        {
            int cp = NextCodePoint();
            if (cp < 0)
            {
                if (_held != 0) { Put(_held); _held = '\0'; }
                _done = true;
                return;
            }
            if (cp < 0x80)
            {
                // ASCII: controls (tab, CR, LF too) are dropped, as ML.Tokenizers does.
                if (cp < 0x20 || cp == 0x7F) return;
                if (_t._lower && (uint)(cp - 'A') <= 'Z' - 'A') cp |= 0x20;
                Push((char)cp);
                return;
            }
            if (_t._strip) cp = AccentTable.Strip(cp);
            if (cp == 0xFFFD) return;
            switch (CharUnicodeInfo.GetUnicodeCategory(cp))
            {
                case UnicodeCategory.Control: return;
                case UnicodeCategory.SpaceSeparator: Push(' '); return;
                case UnicodeCategory.NonSpacingMark when _t._strip: return;
                case UnicodeCategory.UppercaseLetter when _t._lower: cp = Rune.ToLowerInvariant(new Rune(cp)).Value; break;
            }
            bool cjk = _t._cjk && IsCjk(cp);
            if (cjk) Push(' ');
            if (cp <= 0xFFFF) Push((char)cp);
            else { Push((char)(0xD800 + ((cp - 0x10000) >> 10))); Push((char)(0xDC00 + (cp & 0x3FF))); }
            if (cjk) Push(' ');
        }

        // ML.Tokenizers ends with NFC. Once non-spacing marks are gone, the only compositions that
        // change words are Hangul jamo (L+V -> LV, LV+T -> LVT) and AccentTable's few pairs; they need
        // the two characters adjacent, so the last character is held back while it could compose.
        private void Push(char c)
        {
            if (_held != 0)
            {
                char h = _held, composed = '\0';
                if (IsL(h)) { if ((uint)(c - 0x1161) < 21) composed = (char)(0xAC00 + ((h - 0x1100) * 21 + (c - 0x1161)) * 28); }
                else if (IsLV(h)) { if ((uint)(c - 0x11A8) < 27) composed = (char)(h + (c - 0x11A7)); }
                else composed = AccentTable.Compose(h, c);
                _held = '\0';
                if (composed != 0) { c = composed; }
                else Put(h);
            }
            if (IsL(c) || IsLV(c) || (c >= 0x0B92 && AccentTable.IsFirst(c))) _held = c;
            else Put(c);
        }

        private static bool IsLV(char c) => (uint)(c - 0xAC00) < 11172 && (c - 0xAC00) % 28 == 0;

        private static bool IsL(char c) => (uint)(c - 0x1100) < 19;

        private void Put(char c)
        {
            _ring[(_head + _count) & (_ring.Length - 1)] = c;
            _count++;
        }
    }
}
