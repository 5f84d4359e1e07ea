namespace EdgeQuant.Kernels;

/// <summary>
/// Per-thread scratch for A widened to int16 (the exact 16-bit multiply-add kernels read it). Grows to the largest
/// GEMM a thread has seen and is then reused: no allocation after warm-up.
/// </summary>
internal static class WideningScratch
{
    [ThreadStatic] private static short[]? t_buffer;

    public static short[] Get(int elements)
    {
        var b = t_buffer;
        if (b == null || b.Length < elements) t_buffer = b = GC.AllocateUninitializedArray<short>(Math.Max(elements, 4096), pinned: true);
        return b;
    }

    /// <summary>Columns per cache block of B: keeps a block of weight rows (≈ 192 KiB) in L2 while all rows of A pass.</summary>
    public static int ColumnBlock(int k, int tile) => Math.Max(tile, (196608 / Math.Max(k, 1)) / tile * tile);
}
