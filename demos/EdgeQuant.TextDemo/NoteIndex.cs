using System.Buffers.Binary;
using System.Text;
using EdgeQuant.Engine;

namespace EdgeQuant.TextDemo;

/// <summary>
/// A folder of notes (.txt, .md) cut into passages (paragraphs, long ones split by words), each embedded once with a
/// sentence-embedding model (L2-normalized, so a dot product is the cosine). Stored as one file: magic "EQIDX1", the
/// model's header CRC (a search with another model is refused), dimension, count, then per passage its source and
/// text (length-prefixed UTF-8) and finally the vectors [count, dim] as float32.
/// </summary>
internal sealed class NoteIndex
{
    private static ReadOnlySpan<byte> Magic => "EQIDX1"u8;
    public readonly List<(string Source, string Text)> Passages = [];
    public float[] Vectors = [];  // [count, dim]
    public int Dim;
    public uint ModelCrc;

    /// <summary>The header CRC of a model file: identifies the model an index was built with.</summary>
    public static uint ModelId(string modelPath)
    {
        using var f = File.OpenRead(modelPath);
        Span<byte> h = stackalloc byte[64];
        f.ReadExactly(h);
        return BinaryPrimitives.ReadUInt32LittleEndian(h[60..]);
    }

    public static NoteIndex Build(string folder, Model model, Session session, string modelPath, Action<string> log)
    {
        if (!Directory.Exists(folder)) throw new ArgumentException($"notes folder '{folder}' does not exist");
        var files = Directory.GetFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetExtension(f).ToLowerInvariant() is ".txt" or ".md").Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0) throw new ArgumentException($"'{folder}' holds no .txt or .md note");
        var ix = new NoteIndex { Dim = model.OutputLength, ModelCrc = ModelId(modelPath) };
        int maxWords = Math.Max(8, (model.MaxTokens - 2) * 2 / 3); // WordPiece gives ~1.3 tokens a word
        foreach (string file in files)
        {
            string text;
            try { text = File.ReadAllText(file, new UTF8Encoding(false, true)); }
            catch (DecoderFallbackException) { log($"skipped {file}: not valid UTF-8"); continue; }
            int n = 0;
            foreach (string para in text.Replace("\r\n", "\n").Split("\n\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var words = para.Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries);
                for (int w = 0; w < words.Length; w += maxWords)
                    ix.Passages.Add(($"{Path.GetRelativePath(folder, file)}#{++n}", string.Join(' ', words.Skip(w).Take(maxWords))));
            }
        }
        ix.Vectors = new float[ix.Passages.Count * ix.Dim];
        for (int i = 0; i < ix.Passages.Count; i++)
            session.RunText(ix.Passages[i].Text, ix.Vectors.AsSpan(i * ix.Dim, ix.Dim));
        log($"indexed {ix.Passages.Count} passages from {files.Length} notes ({ix.Dim}-dimensional embeddings)");
        return ix;
    }

    public void Save(string path)
    {
        using var w = new BinaryWriter(File.Create(path), Encoding.UTF8);
        w.Write(Magic);
        w.Write(ModelCrc);
        w.Write(Dim);
        w.Write(Passages.Count);
        foreach (var (src, text) in Passages) { w.Write(src); w.Write(text); }
        foreach (float v in Vectors) w.Write(v);
    }

    public static NoteIndex Load(string path, string modelPath)
    {
        using var r = new BinaryReader(File.OpenRead(path), new UTF8Encoding(false, true));
        try
        {
            if (!r.ReadBytes(6).AsSpan().SequenceEqual(Magic)) throw new InvalidDataException($"{path} is not an eqtext index");
            var ix = new NoteIndex { ModelCrc = r.ReadUInt32(), Dim = r.ReadInt32() };
            int count = r.ReadInt32();
            long left = r.BaseStream.Length - r.BaseStream.Position;
            if (ix.Dim is < 1 or > 65536 || count < 0 || (long)count * ix.Dim * 4 > left) throw new InvalidDataException($"{path}: header claims {count} x {ix.Dim} vectors, the file cannot hold them");
            if (ix.ModelCrc != ModelId(modelPath)) throw new InvalidDataException($"{path} was built with another model than {modelPath}: index the notes again with this model");
            for (int i = 0; i < count; i++) ix.Passages.Add((r.ReadString(), r.ReadString()));
            ix.Vectors = new float[count * ix.Dim];
            for (int i = 0; i < ix.Vectors.Length; i++) ix.Vectors[i] = r.ReadSingle();
            return ix;
        }
        catch (EndOfStreamException) { throw new InvalidDataException($"{path} is truncated"); }
    }

    /// <summary>The <paramref name="k"/> passages closest to the normalized query embedding <paramref name="q"/>.</summary>
    public List<(int Index, float Score)> Search(ReadOnlySpan<float> q, int k)
    {
        var best = new List<(int Index, float Score)>();
        for (int i = 0; i < Passages.Count; i++)
        {
            float s = 0;
            for (int j = 0; j < Dim; j++) s += q[j] * Vectors[i * Dim + j];
            best.Add((i, s));
        }
        best.Sort((a, b) => b.Score.CompareTo(a.Score) != 0 ? b.Score.CompareTo(a.Score) : a.Index.CompareTo(b.Index));
        return best.Take(k).ToList();
    }
}
