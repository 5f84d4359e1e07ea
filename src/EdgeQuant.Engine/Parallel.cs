using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using EdgeQuant.Kernels;

namespace EdgeQuant.Engine;

/// <summary>
/// C[m, n] = bias + A·Bᵀ split over column ranges of B. Operands live in the arena or the mapped model (native
/// memory), so the job keeps raw pointers between dispatches and allocates nothing.
/// </summary>
internal sealed unsafe class GemmJob : ParallelJob
{
    private const int Align = 12; // multiple of every kernel's column tile (3 and 4)
    private KernelSet _k = null!;
    private sbyte* _a, _b;
    private int* _bias, _c;
    private int _lda, _ldb, _ldc, _m, _n, _kk, _chunk;

    public static T* Ptr<T>(ReadOnlySpan<T> s) where T : unmanaged => (T*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(s));

    /// <summary>Returns the number of work items.</summary>
    public int Prepare(KernelSet k, ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<sbyte> b, int ldb, ReadOnlySpan<int> bias, Span<int> c, int ldc, int m, int n, int kk, int threads)
    {
        _k = k;
        _a = Ptr(a);
        _b = Ptr(b);
        _bias = bias.IsEmpty ? null : Ptr(bias);
        _c = Ptr<int>(c);
        (_lda, _ldb, _ldc, _m, _n, _kk) = (lda, ldb, ldc, m, n, kk);
        _chunk = Math.Max(Align, (n + threads - 1) / threads / Align * Align);
        return (n + _chunk - 1) / _chunk;
    }

    public override void Execute(int index, int worker)
    {
        int n0 = index * _chunk, n = Math.Min(_chunk, _n - n0);
        _k.GemmS8S8(new ReadOnlySpan<sbyte>(_a, (_m - 1) * _lda + _kk), _lda,
            new ReadOnlySpan<sbyte>(_b + (long)n0 * _ldb, (n - 1) * _ldb + _kk), _ldb,
            _bias == null ? default : new ReadOnlySpan<int>(_bias + n0, n),
            new Span<int>(_c + n0, (_m - 1) * _ldc + n), _ldc, _m, n, _kk);
    }
}

/// <summary>Attention heads split over threads (each thread has its own score/probability scratch).</summary>
internal sealed class HeadJob(Session session) : ParallelJob
{
    public Format.BlockQuant Quant = null!;

    public override void Execute(int index, int worker) => session.AttentionHead(index, worker, Quant);
}
