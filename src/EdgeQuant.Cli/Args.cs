using System.Globalization;

namespace EdgeQuant.Cli;

/// <summary>Bad command-line usage; reported with exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>Positional arguments and "--name value" / "--flag" options.</summary>
internal sealed class Args
{
    private readonly Dictionary<string, string?> _opts = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    public List<string> Positional { get; } = [];

    public Args(IEnumerable<string> args, IReadOnlySet<string> flags)
    {
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            string a = e.Current;
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                string name = a[2..];
                if (flags.Contains(name)) _opts[name] = null;
                else if (e.MoveNext()) _opts[name] = e.Current;
                else throw new UsageException($"option --{name} needs a value");
            }
            else if (a == "-o")
            {
                if (!e.MoveNext()) throw new UsageException("-o needs a value");
                _opts["output"] = e.Current;
            }
            else Positional.Add(a);
        }
    }

    public bool Flag(string name) { _used.Add(name); return _opts.ContainsKey(name); }

    public string? Str(string name) { _used.Add(name); return _opts.GetValueOrDefault(name); }

    public string Str(string name, string dflt) => Str(name) ?? dflt;

    public int Int(string name, int dflt)
    {
        string? s = Str(name);
        if (s == null) return dflt;
        return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : throw new UsageException($"--{name}: '{s}' is not an integer");
    }

    public double Double(string name, double dflt)
    {
        string? s = Str(name);
        if (s == null) return dflt;
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : throw new UsageException($"--{name}: '{s}' is not a number");
    }

    public float[]? Floats(string name)
    {
        string? s = Str(name);
        if (s == null) return null;
        return s.Split(',').Select(p => float.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) ? v : throw new UsageException($"--{name}: '{p}' is not a number")).ToArray();
    }

    /// <summary>"a:b" → [a, b) clipped to count.</summary>
    public (int Start, int End) Range(string name, int count)
    {
        string? s = Str(name);
        if (s == null) return (0, count);
        var parts = s.Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int a) || !int.TryParse(parts[1], out int b) || a < 0 || b <= a)
            throw new UsageException($"--{name}: expected START:END, got '{s}'");
        if (b > count) throw new UsageException($"--{name}: end {b} is past the {count} available items");
        return (a, b);
    }

    public string Positional1(string what) => Positional.Count > 0 ? Positional[0] : throw new UsageException($"missing {what}");

    /// <summary>Rejects options nobody asked for (typos).</summary>
    public void CheckAllUsed()
    {
        foreach (var k in _opts.Keys)
            if (!_used.Contains(k)) throw new UsageException($"unknown option --{k}");
    }
}
