using System.Diagnostics;
using EdgeQuant.Fuzz;

// Verbs:
//   list                                   the harnesses
//   seeds <dir> [--repo ROOT]              seed corpora from the test assets into <dir>/<harness>/
//   run <harness>                          one AFL++ target (SharpFuzz persistent loop; started by tools/fuzz/fuzz.sh)
//   replay <harness|all> <file|dir>...     every file through its harness without AFL; exit 1 on any finding
//   mutate <count> [--seed N]              the hostile-file mutation campaign on .eqm files (MutationCampaign)
// A file's harness under `replay all` is the one named in its name (*.<harness>.fuzz) or its parent folder.
try
{
    return args switch
    {
        ["list"] => List(),
        ["seeds", var dir, .. var rest] => Seeds(dir, rest is ["--repo", var root] ? root : FindRepo()),
        ["run", var name] => RunAfl(Harness.Find(name)),
        ["replay", var name, .. var paths] when paths.Length > 0 => Replay(name, paths),
        ["mutate", var n] => MutationCampaign.Run(FindRepo(), int.Parse(n), 1, Path.Combine("out", "fuzz", "mutate-findings")) == 0 ? 0 : 1,
        ["mutate", var n, "--seed", var sd] => MutationCampaign.Run(FindRepo(), int.Parse(n), int.Parse(sd), Path.Combine("out", "fuzz", "mutate-findings")) == 0 ? 0 : 1,
        _ => Usage(),
    };
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

static int Usage()
{
    Console.Error.WriteLine("usage: EdgeQuant.Fuzz list | seeds <dir> [--repo ROOT] | run <harness> | replay <harness|all> <file|dir>... | mutate <count> [--seed N]");
    return 2;
}

static int List()
{
    foreach (var h in Harness.All) Console.WriteLine($"{h.Name,-10} {h.Description}");
    return 0;
}

static string FindRepo()
{
    for (string? d = AppContext.BaseDirectory; d != null; d = Path.GetDirectoryName(d))
        if (File.Exists(Path.Combine(d, "EdgeQuant.sln"))) return d;
    throw new ArgumentException("repository root not found above the executable; pass --repo ROOT");
}

static int Seeds(string dir, string repo)
{
    foreach (var h in Harness.All)
    {
        string sub = Path.Combine(dir, h.Name);
        Directory.CreateDirectory(sub);
        h.WriteSeeds(repo, sub);
        var files = Directory.GetFiles(sub);
        Console.WriteLine($"{h.Name,-10} {files.Length} seeds, {files.Sum(f => new FileInfo(f).Length) / 1024.0:F0} KiB");
    }
    return 0;
}

static int RunAfl(Harness h)
{
    // Findings escape as exceptions: SharpFuzz reports them to afl-fuzz as crashes.
    SharpFuzz.Fuzzer.Run(stream =>
    {
        var ms = new MemoryStream();
        stream.CopyTo(ms);
        h.Run(ms.GetBuffer().AsSpan(0, (int)ms.Length));
    });
    return 0;
}

static int Replay(string name, string[] paths)
{
    var files = paths.SelectMany(p => Directory.Exists(p) ? Directory.GetFiles(p, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal) : (IEnumerable<string>)[p])
        .Where(f => !Path.GetFileName(f).StartsWith('.') && !f.EndsWith(".md", StringComparison.Ordinal)).ToArray();
    int findings = 0, runs = 0;
    var sw = Stopwatch.StartNew();
    foreach (string f in files)
    {
        var h = name != "all" ? Harness.Find(name) : HarnessOf(f);
        if (h == null) continue;
        runs++;
        try { h.Run(File.ReadAllBytes(f)); }
        catch (Exception e)
        {
            findings++;
            Console.WriteLine($"FINDING {h.Name} {f}: {e.GetType().Name}: {e.Message}");
            Console.WriteLine(e.StackTrace?.Split('\n').Take(6).Aggregate((a, b) => a + "\n" + b));
        }
    }
    Console.WriteLine($"replayed {runs} inputs in {sw.Elapsed.TotalSeconds:F1} s: {findings} findings");
    return findings == 0 ? 0 : 1;
}

static Harness? HarnessOf(string file)
{
    string n = Path.GetFileName(file);
    foreach (var h in Harness.All)
        if (n.EndsWith($".{h.Name}.fuzz", StringComparison.Ordinal) || Path.GetFileName(Path.GetDirectoryName(file)) == h.Name) return h;
    return null;
}
