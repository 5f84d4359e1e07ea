using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using EdgeQuant.Kernels;

namespace EdgeQuant.Engine;

/// <summary>
/// acc[m, n] = bias + A·Wᵀ of one int8 linear layer, split over column ranges of W. Operands live in the arena or the mapped model (native
/// memory), so the job keeps raw pointers between dispatches and allocates nothing.
/// </summary>
internal sealed unsafe class GemmJob : ParallelJob
{
    private const int Align = 12; // multiple of every kernel's column tile (3 and 4)
    private KernelSet _k = null!;
    private sbyte* _a, _b;
    private byte* _b4;
    private int* _bias, _c, _wsum;
    private int _lda, _ldb, _ldc, _m, _n, _kk, _chunk;

    public static T* Ptr<T>(ReadOnlySpan<T> s) where T : unmanaged => (T*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(s));

    /// <summary>Sets up acc [m, l.Out] = a · l.Wᵀ + bias; returns the number of work items.</summary>
    public int Prepare(KernelSet k, ReadOnlySpan<sbyte> a, int lda, in LinearS8 l, Span<int> c, int m, int threads)
    {
        _k = k;
        _a = Ptr(a);
        _b = l.FourBit ? null : Ptr(l.W);
        _b4 = l.FourBit ? Ptr(l.W4) : null;
        _bias = Ptr(l.Bias);
        _wsum = l.SevenBit || l.FourBit ? Ptr(l.WeightSums) : null;
        _c = Ptr<int>(c);
        int n = l.Out, kk = l.In;
        (_lda, _ldb, _ldc, _m, _n, _kk) = (lda, l.FourBit ? l.W4RowBytes : kk, n, m, n, kk);
        _chunk = Math.Max(Align, (n + threads - 1) / threads / Align * Align);
        return (n + _chunk - 1) / _chunk;
    }

    public override void Execute(int index, int worker)
    {
        int n0 = index * _chunk, n = Math.Min(_chunk, _n - n0);
        var a = new ReadOnlySpan<sbyte>(_a, (_m - 1) * _lda + _kk);
        var bias = new ReadOnlySpan<int>(_bias + n0, n);
        var c = new Span<int>(_c + n0, (_m - 1) * _ldc + n);
        if (_b4 != null)
        {
            _k.GemmS8S4(a, _lda, new ReadOnlySpan<byte>(_b4 + (long)n0 * _ldb, n * _ldb), _ldb, bias, new ReadOnlySpan<int>(_wsum + n0, n), c, _ldc, _m, n, _kk);
            return;
        }
        var b = new ReadOnlySpan<sbyte>(_b + (long)n0 * _ldb, (n - 1) * _ldb + _kk);
        if (_wsum != null) _k.GemmS8S7(a, _lda, b, _ldb, bias, new ReadOnlySpan<int>(_wsum + n0, n), c, _ldc, _m, n, _kk);
        else _k.GemmS8S8(a, _lda, b, _ldb, bias, c, _ldc, _m, n, _kk);
    }
}

/// <summary>Attention heads split over threads (each thread has its own score/probability scratch).</summary>
internal sealed class HeadJob(Session session) : ParallelJob
{
    public Format.BlockQuant Quant = null!;

    public override void Execute(int index, int worker) => session.AttentionHead(index, worker, Quant);
}

/// <summary>Row-wise epilogues (LayerNorm + quantize, requantize, activation) split into row ranges.</summary>
internal sealed class RowJob(Session session) : ParallelJob
{
    private int _rows, _chunk;

    /// <summary>Returns the number of work items for <paramref name="rows"/> rows.</summary>
    public int Prepare(int rows, int threads)
    {
        _rows = rows;
        _chunk = (rows + threads - 1) / threads;
        return (rows + _chunk - 1) / _chunk;
    }

    public override void Execute(int index, int worker)
    {
        int r0 = index * _chunk;
        session.DoRows(r0, Math.Min(_rows, r0 + _chunk));
    }
}
