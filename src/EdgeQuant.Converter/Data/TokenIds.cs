using System.Globalization;

namespace EdgeQuant.Converter.Data;

/// <summary>Token ids written as text: "101,2023,102" (one sequence), one sequence per line in a file.</summary>
public static class TokenIds
{
    /// <summary>Comma-separated non-negative ids (spaces allowed); a clear error naming <paramref name="what"/> otherwise.</summary>
    /// <exception cref="FormatException">An empty entry or one that is not an integer in [0, 2^31).</exception>
    public static int[] Parse(string text, string what)
    {
        var parts = text.Split(',');
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            string p = parts[i].Trim();
            if (p.Length == 0) throw new FormatException($"{what}: empty id at position {i + 1} (expected comma-separated token ids, e.g. 101,2023,102)");
            if (!int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
                throw new FormatException($"{what}: '{p}' at position {i + 1} is not a token id (a non-negative integer below 2^31)");
        }
        return ids;
    }

    /// <summary>The non-empty lines of <paramref name="path"/>, each parsed with <see cref="Parse"/> (errors name the line).</summary>
    public static List<int[]> ReadLines(string path)
    {
        var list = new List<int[]>();
        string[] lines = InputFiles.ReadAllLines(path, "token id file");
        for (int i = 0; i < lines.Length; i++)
            if (lines[i].Trim().Length > 0) list.Add(Parse(lines[i], $"{Path.GetFileName(path)} line {i + 1}"));
        return list;
    }
}
