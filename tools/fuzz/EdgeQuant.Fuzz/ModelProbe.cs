using EdgeQuant.Engine;
using EdgeQuant.Format;

namespace EdgeQuant.Fuzz;

/// <summary>
/// Runs a model that loaded once, with a fixed input, and asserts what an accepted model owes its user: a result of
/// the promised length with no NaN or ±∞ in it (a file the loader accepts must not compute garbage): either finite
/// outputs or the engine's <see cref="ModelFormatError.NonFiniteOutput"/> refusal.
/// </summary>
public static class ModelProbe
{
    /// <summary>
    /// Creates a session on <paramref name="model"/>, runs one input and checks the output: true when it is finite,
    /// false when the engine refused to return a non-finite one; throws <see cref="FuzzFinding"/> when it returned one.
    /// </summary>
    public static bool RunOnce(Model model, string what)
    {
        try { RunChecked(model, what); return true; }
        catch (ModelFormatException e) when (e.Error == ModelFormatError.NonFiniteOutput) { return false; } // the engine's own refusal of overflowing weights
    }

    /// <summary>
    /// Loads a model an importer just produced and runs it once: the importer accepted it, so the loader refusing it is
    /// a finding (the importer must refuse first, naming the problem).
    /// </summary>
    public static void RunImported(Func<Model> load, string what)
    {
        Model model;
        try { model = load(); }
        catch (ModelFormatException e) { throw new FuzzFinding($"{what}: the importer accepted a model its loader refuses: {e.Message}"); }
        using (model) RunOnce(model, what);
    }

    private static void RunChecked(Model model, string what)
    {
        using var session = model.CreateSession(new SessionOptions { Threads = 1 });
        var output = new float[model.OutputLength];
        if (model.IsText)
        {
            if (model.HasTokenizer) session.RunText("the quick brown fox, 12 ünïcode 字!"u8, output);
            else
            {
                int n = Math.Min(model.MaxTokens, 6), vocab = model.Text!.VocabSize;
                var ids = new int[n];
                var mask = new int[n];
                for (int i = 0; i < n; i++) (ids[i], mask[i]) = ((i * 7 + 1) % vocab, 1);
                session.RunTokens(ids, mask, new int[n], output);
            }
        }
        else
        {
            var input = new float[model.InputLength]; // [channels, height, width]
            for (int i = 0; i < input.Length; i++) input[i] = (i * 37 % 101) / 100f;
            session.Run(input, output);
        }
        for (int i = 0; i < output.Length; i++)
            if (!float.IsFinite(output[i]))
                throw new FuzzFinding($"{what}: accepted, but output[{i}] = {output[i]} ({(model.IsQuantized ? "int8" : "fp32")}, {(model.IsText ? "text" : "image")} model)");
    }
}
