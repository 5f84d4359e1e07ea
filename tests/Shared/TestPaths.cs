using System.Text.Json;

namespace EdgeQuant.Tests;

/// <summary>Locates the repository, its test assets and the shared data folder (EDGEQUANT_SHARED or ../shared).</summary>
internal static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "EdgeQuant.sln"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (EdgeQuant.sln) above " + AppContext.BaseDirectory);
    }

    public static string Asset(string name) => Path.Combine(RepoRoot, "tests", "assets", name);

    public static string Shared(string relative)
    {
        string root = Environment.GetEnvironmentVariable("EDGEQUANT_SHARED") is { Length: > 0 } s ? s : Path.Combine(RepoRoot, "..", "shared");
        string p = Path.GetFullPath(Path.Combine(root, relative));
        if (!File.Exists(p)) throw new FileNotFoundException($"shared data file missing: {p} (set EDGEQUANT_SHARED to the shared/ folder)");
        return p;
    }

    /// <summary>Reads {"input": [...], "logits": [...]} written by tools/testmodels/make_test_models.py.</summary>
    public static (float[] Input, float[] Logits) Expected(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Asset(name)));
        float[] Read(string key) => doc.RootElement.GetProperty(key).EnumerateArray().Select(e => e.GetSingle()).ToArray();
        return (Read("input"), Read("logits"));
    }
}
