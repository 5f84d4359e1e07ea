using System.Runtime.Intrinsics;
using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels;

/// <summary>
/// The 4-bit-weight GEMM of the SIMD paths: blocks of packed weight rows are unpacked to s8 (one 16-byte load and two
/// nibble masks per 32 weights, Vector128 on every ISA) into a per-thread L2-sized buffer, then the path's own
/// s8 × s7 GEMM runs on the block (|w| ≤ 7, so x64 can use its exact u8×s8 tiles). The unpack costs K·N byte
/// operations per call against M·N·K multiply-adds, and the file keeps half the bytes of 8-bit weights.
/// </summary>
internal static unsafe class GemmS4Unpacked
{
    [ThreadStatic] private static sbyte[]? t_block;

    /// <summary>C = A · Bᵀ + bias for packed 4-bit B (see <see cref="GemmS4Reference.GemmS8S4"/>) on path <paramref name="path"/>.</summary>
    public static void Run(KernelSet path, ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<byte> b, int ldb, ReadOnlySpan<int> bias, ReadOnlySpan<int> wsum,
        Span<int> c, int ldc, int m, int n, int k)
    {
        GemmS4Reference.Check(m, n, k, lda, ldb, ldc, a.Length, b.Length, c.Length, bias.Length);
        if (m == 0 || n == 0) return;
        if (wsum.Length < n) throw new ArgumentException($"weight sums have {wsum.Length} entries, need {n}");
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

    /// <summary>Unpacks rows of <paramref name="rb"/> packed bytes to s8 rows of 2·rb (see the layout in <see cref="GemmS4Reference"/>).</summary>
    private static void Unpack(byte* src, int ldb, sbyte* dst, int ldd, int rows, int rb)
    {
        var low = Vector128.Create((byte)0x0F);
        var eight = Vector128.Create((byte)8);
        for (int j = 0; j < rows; j++)
        {
            byte* s = src + (long)j * ldb;
            byte* d = (byte*)dst + (long)j * ldd;
            for (int g = 0; g < rb; g += 16)
            {
                var v = Vector128.Load(s + g);
                // Two's-complement nibble to byte: (x ^ 8) − 8.
                (((v & low) ^ eight) - eight).Store(d + 2 * g);
                ((Vector128.ShiftRightLogical(v, 4) ^ eight) - eight).Store(d + 2 * g + 16);
            }
        }
    }
}
