using System.Globalization;

namespace EdgeQuant.Converter.Data;

/// <summary>Labelled sentences from a TSV file (GLUE style: header "sentence\tlabel", or two columns text, label).</summary>
public sealed class TextSet(string[] sentences, int[] labels)
{
    /// <summary>The sentences.</summary>
    public string[] Sentences { get; } = sentences;
    /// <summary>Class index per sentence (−1 when the file has no label column).</summary>
    public int[] Labels { get; } = labels;
    /// <summary>Number of sentences.</summary>
    public int Count => Sentences.Length;

    /// <summary>Reads a TSV file (header "sentence\tlabel", or text in the first and label in the last column).</summary>
    public static TextSet ReadTsv(string path)
    {
        var lines = InputFiles.ReadAllLines(path, "TSV file");
        if (lines.Length == 0) throw new InvalidDataException($"{path}: empty file");
        int textCol = 0, labelCol = -1, first = 0;
        string[] head = lines[0].Split('\t');
        int s = Array.IndexOf(head, "sentence"), l = Array.IndexOf(head, "label");
        if (s >= 0)
        {
            (textCol, labelCol, first) = (s, l, 1);
        }
        else if (head.Length >= 2) labelCol = head.Length - 1;
        var text = new List<string>(lines.Length);
        var labels = new List<int>(lines.Length);
        for (int i = first; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            string[] f = lines[i].Split('\t');
            if (f.Length <= Math.Max(textCol, labelCol)) throw new InvalidDataException($"{path}:{i + 1}: expected {Math.Max(textCol, labelCol) + 1} tab-separated columns");
            text.Add(f[textCol]);
            if (labelCol < 0) labels.Add(-1);
            else if (int.TryParse(f[labelCol], NumberStyles.Integer, CultureInfo.InvariantCulture, out int y) && y >= 0) labels.Add(y);
            else throw new InvalidDataException($"{path}:{i + 1}: label '{f[labelCol]}' is not a class index");
        }
        return new TextSet([.. text], [.. labels]);
    }
}
