using EdgeQuant.Engine;

namespace EdgeQuant.Cli;

/// <summary>
/// `eval --reference FP32.eqm`: runs the reference model on the same inputs and accumulates top-1 agreement and the
/// output SQNR (10·log10 Σ ref² / Σ (out − ref)²), which tell quantization variants apart long before accuracy does.
/// </summary>
internal sealed class ReferenceComparison : IDisposable
{
    private readonly Model _model;
    private readonly Session _session;
    private readonly float[] _out;
    private double _signal, _noise;
    private int _agree, _count;

    public ReferenceComparison(string path, Model evaluated)
    {
        _model = Model.Load(path);
        if (_model.OutputLength != evaluated.OutputLength || _model.IsText != evaluated.IsText)
        {
            _model.Dispose();
            throw new UsageException($"--reference {path}: its outputs ({_model.OutputLength}) or input kind differ from the evaluated model's");
        }
        _session = _model.CreateSession(new SessionOptions());
        _out = new float[_model.OutputLength];
    }

    /// <summary>The reference session (run it on the same input, then call <see cref="Add"/>).</summary>
    public Session Session => _session;

    /// <summary>Compares <paramref name="output"/> with the reference output of the same input.</summary>
    public void Add(ReadOnlySpan<float> output)
    {
        for (int i = 0; i < _out.Length; i++)
        {
            _signal += (double)_out[i] * _out[i];
            double d = output[i] - _out[i];
            _noise += d * d;
        }
        if (Commands.Argmax(output) == Commands.Argmax(_out)) _agree++;
        _count++;
    }

    /// <summary>The reference output buffer.</summary>
    public Span<float> Output => _out;

    /// <summary>"agreement 99.9 % top-1, output SQNR 31.2 dB vs FILE".</summary>
    public string Summary(string path) =>
        $"vs reference {path}: top-1 agreement {100.0 * _agree / Math.Max(1, _count):F2} %, output SQNR {10 * Math.Log10(_signal / Math.Max(_noise, 1e-30)):F1} dB";

    public void Dispose()
    {
        _session.Dispose();
        _model.Dispose();
    }
}
