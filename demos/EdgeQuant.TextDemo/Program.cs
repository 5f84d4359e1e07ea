using System.Globalization;
using System.Runtime.InteropServices;
using EdgeQuant.Demos;
using EdgeQuant.Engine;
using EdgeQuant.Format;
using EdgeQuant.TextDemo;

// eqtext: text lines in, answers out.
const string Usage = """
    usage: eqtext MODEL.eqm classify [--source SRC] [--top K] [--gpio PIN --when LABEL[:P] [--gpio-chip N]]
           eqtext MODEL.eqm index NOTES_FOLDER -o INDEX          (a sentence-embedding model)
           eqtext MODEL.eqm search INDEX [--source SRC] [--top K]
      SRC: stdin (default), tcp:PORT (loopback) or tcp:ADDRESS:PORT, serial:DEVICE[:BAUD] (default 115200);
      answers go back where the line came from. --threads N for the session.
      generate (a local assistant) needs decoder LLMs, which this version does not run yet.
    """;
if (args.Length < 2)
{
    Console.Error.WriteLine(Usage);
    return 2;
}
using var cts = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; cts.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; cts.Cancel(); });
try
{
    string modelPath = args[0], verb = args[1];
    var rest = args.Skip(2).ToList();
    string? Opt(string name)
    {
        int i = rest.IndexOf(name);
        if (i < 0) return null;
        if (i + 1 >= rest.Count) throw new ArgumentException($"{name} needs a value");
        string v = rest[i + 1];
        rest.RemoveRange(i, 2);
        return v;
    }
    int IntOpt(string name, int dflt, int max, int min = 1) => Opt(name) is string s
        ? int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max ? v : throw new ArgumentException($"{name} needs an integer in [{min}, {max}]")
        : dflt;
    if (verb == "generate") throw new ArgumentException("generate needs a decoder LLM; this version runs encoders only (classify, index, search)");
    string source = Opt("--source") ?? "stdin";
    int top = IntOpt("--top", verb == "search" ? 3 : 1, 50), threads = IntOpt("--threads", 1, 64);
    using var model = Model.Load(modelPath);
    if (!model.IsText) throw new ArgumentException($"{modelPath} is an image model; eqtext needs a text model (eqcam classifies images)");
    if (!model.HasTokenizer) throw new ArgumentException($"{modelPath} stores no tokenizer (its vocabulary is not WordPiece), so it cannot take text lines");
    bool embedding = model.Text!.Head != Schema.TextHeads.Classification;
    using var session = model.CreateSession(new SessionOptions { Threads = threads, NormalizeEmbeddings = true });
    var output = new float[model.OutputLength];
    switch (verb)
    {
        case "classify":
        {
            if (embedding) throw new ArgumentException($"{modelPath} outputs sentence embeddings; classify needs a classifier (use index/search)");
            string[] labels = model.Metadata.Labels.Length == model.OutputLength ? model.Metadata.Labels
                : Enumerable.Range(0, model.OutputLength).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
            int pin = IntOpt("--gpio", -1, 1023, min: 0), chip = IntOpt("--gpio-chip", 0, 63, min: 0);
            string? when = Opt("--when");
            float whenP = 0.5f;
            if (when != null && when.LastIndexOf(':') is > 0 and var c && float.TryParse(when[(c + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out float p)) (when, whenP) = (when[..c], p);
            int whenIndex = when == null ? -1 : Array.IndexOf(labels, when);
            if (when != null && whenIndex < 0) throw new ArgumentException($"--when '{when}' is not a label of the model ({string.Join(", ", labels)})");
            if (pin >= 0 && whenIndex < 0) throw new ArgumentException("--gpio needs --when LABEL[:P]");
            if (rest.Count > 0) throw new ArgumentException($"unknown arguments: {string.Join(' ', rest)}");
            using var gpio = pin >= 0 ? new GpioOutput(chip, pin) : null;
            var order = new int[Math.Min(top, output.Length)]; // top classes, best first
            var probs = new float[order.Length];                // their probabilities
            LineSources.Serve(source, line =>
            {
                try { session.RunText(line, output); }
                catch (ArgumentException e) { return $"error: {e.Message}"; }
                Predictions.TopK(output, order, probs);
                gpio?.Set(order[0] == whenIndex && probs[0] >= whenP);
                return string.Join("  ", order.Select((i, j) => $"{labels[i]} {probs[j]:F4}"));
            }, cts.Token);
            return 0;
        }
        case "index":
        {
            string outPath = Opt("-o") ?? throw new ArgumentException("index needs -o INDEX");
            if (!embedding) throw new ArgumentException($"{modelPath} is a classifier; index needs a sentence-embedding model");
            if (rest.Count != 1) throw new ArgumentException("index takes one notes folder");
            var ix = NoteIndex.Build(rest[0], model, session, modelPath, m => Console.Error.WriteLine($"eqtext: {m}"));
            ix.Save(outPath);
            Console.Error.WriteLine($"eqtext: wrote {outPath}");
            return 0;
        }
        case "search":
        {
            if (!embedding) throw new ArgumentException($"{modelPath} is a classifier; search needs the sentence-embedding model the index was built with");
            if (rest.Count != 1) throw new ArgumentException("search takes one index file");
            var ix = NoteIndex.Load(rest[0], modelPath);
            Console.Error.WriteLine($"eqtext: {ix.Passages.Count} passages; one query per line");
            LineSources.Serve(source, line =>
            {
                try { session.RunText(line, output); }
                catch (ArgumentException e) { return $"error: {e.Message}"; }
                return string.Join("\n", ix.Search(output, top).Select(h => $"{h.Score:F4}  {ix.Passages[h.Index].Source}  {Clip(ix.Passages[h.Index].Text)}"));
            }, cts.Token);
            return 0;
        }
        default: throw new ArgumentException($"unknown verb '{verb}'\n{Usage}");
    }
}
catch (Exception e) when (e is ArgumentException or IOException or ModelFormatException or InvalidDataException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"eqtext: {e.Message}");
    return 1;
}

static string Clip(string s) => s.Length <= 100 ? s : s[..97] + "...";
