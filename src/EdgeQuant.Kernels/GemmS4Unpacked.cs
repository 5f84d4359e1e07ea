using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels;

/// <summary>
/// The 4-bit-weight GEMM of arm64 (and of x64 below 4 rows, where its outer-product tiles lose): blocks of packed
/// weight rows are unpacked to s8 (one 16-byte load and two nibble masks per 32 weights, Vector128 on every ISA) into a
/// per-thread L2-sized buffer, then the path's own s8 × s7 GEMM runs on the block. The unpack costs K·N byte
/// operations per call against M·N·K multiply-adds, and the file keeps half the bytes of 8-bit weights.
/// </summary>
internal static unsafe class GemmS4Unpacked
{
    [ThreadStatic] private static sbyte[]? t_block;

    /// <summary>C = A · Bᵀ + bias for packed 4-bit B (see <see cref="GemmS4Reference.GemmS8S4"/>) on path <paramref name="path"/>.</summary>
    public static void Run(KernelSet path, ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<byte> b, int ldb, ReadOnlySpan<int> bias, ReadOnlySpan<int> wsum,
        Span<int> c, int ldc, int m, int n, int k)
    {
        if (!Check(m, n, k, lda, ldb, ldc, a.Length, b.Length, c.Length, bias.Length, wsum.Length)) return;
        int rb = GemmS4Reference.RowBytes(k), kp = 2 * rb;
        int nb = Math.Min(n, WideningScratch.ColumnBlock(kp, 12));
        sbyte* wp = WideningScratch.Aligned(ref t_block, nb * kp);
        var w = new ReadOnlySpan<sbyte>(wp, nb * kp); // [nb, kp]
        for (int jb = 0; jb < n; jb += nb)
        {
            int cols = Math.Min(nb, n - jb);
            fixed (byte* src = b.Slice(jb * ldb))
                Unpack(src, ldb, wp, kp, cols, rb);
            path.GemmS8S7(a, lda, w, kp, bias.IsEmpty ? default : bias.Slice(jb, cols), wsum.Slice(jb, cols), c.Slice(jb), ldc, m, cols, k);
        }
    }

    /// <summary>Argument checks of the SIMD 4-bit GEMMs (with the weight sums they need): false when there is nothing to do.</summary>
    internal static bool Check(int m, int n, int k, int lda, int ldb, int ldc, int aLen, int bLen, int cLen, int biasLen, int wsumLen)
    {
        GemmS4Reference.Check(m, n, k, lda, ldb, ldc, aLen, bLen, cLen, biasLen);
        if (m == 0 || n == 0) return false;
        if (wsumLen < n) throw new ArgumentException($"weight sums have {wsumLen} entries, need {n}");
        return true;
    }

    /// <summary>Unpacks rows of <paramref name="rb"/> packed bytes to s8 rows of 2·rb (see the layout in <see cref="GemmS4Reference"/>).</summary>
    private static void Unpack(byte* src, int ldb, sbyte* dst, int ldd, int rows, int rb)
    {
        for (int j = 0; j < rows; j++)
        {
            byte* s = src + (long)j * ldb;
            byte* d = (byte*)dst + (long)j * ldd;
            for (int g = 0; g < rb; g += 16)
            {
                var (lo, hi) = Nibbles(Vector128.Load(s + g));
                lo.Store(d + 2 * g);
                hi.Store(d + 2 * g + 16);
            }
        }
    }

    /// <summary>A 16-byte packed block → weights 0..15 and 16..31 as s8 (two's-complement nibble: (x ^ 8) − 8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector128<byte> Lo, Vector128<byte> Hi) Nibbles(Vector128<byte> v)
    {
        var low = Vector128.Create((byte)0x0F);
        var eight = Vector128.Create((byte)8);
        return (((v & low) ^ eight) - eight, (Vector128.ShiftRightLogical(v, 4) ^ eight) - eight);
    }
}
