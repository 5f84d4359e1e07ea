namespace EdgeQuant.Kernels;

/// <summary>
/// Per-thread scratch for A widened to int16 (the exact 16-bit multiply-add kernels read it), and the aligned,
/// grow-once buffer mechanism other kernels' per-thread scratch (packed panels, unpacked 4-bit blocks) uses too.
/// Grows to the largest GEMM a thread has seen and is then reused: no allocation after warm-up.
/// </summary>
internal static unsafe class WideningScratch
{
    [ThreadStatic] private static short[]? t_buffer;

    /// <summary>A 64-byte-aligned pointer to at least <paramref name="elements"/> int16 (pinned array, so no fixed needed).</summary>
    public static short* Get(int elements) => Aligned(ref t_buffer, elements);

    /// <summary>
    /// A 64-byte-aligned pointer to at least <paramref name="elements"/> of T in the caller's thread-static
    /// <paramref name="buffer"/>, grown (pinned) when too small: at least one element readable past the end.
    /// </summary>
    public static T* Aligned<T>(ref T[]? buffer, int elements) where T : unmanaged
    {
        int slack = 64 / sizeof(T);
        var b = buffer;
        if (b == null || b.Length < elements + slack) buffer = b = GC.AllocateUninitializedArray<T>(Math.Max(elements + slack, 4096), pinned: true);
        // Aligned rows keep every vector load inside one cache line (split loads cost up to 4x in the GEMM inner loops).
        nint p = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref b[0]);
        return (T*)((p + 63) & ~(nint)63);
    }

    /// <summary>Rows of B (weight columns of C) per cache block: ≈ 128 KiB of int8 weights, kept in L2.</summary>
    public static int ColumnBlock(int k, int tile) => Math.Max(tile, (131072 / Math.Max(k, 1)) / tile * tile);

    /// <summary>Rows of A per cache block: ≈ 128 KiB of A (at <paramref name="bytesPerElement"/>), kept in L2 while a block of B passes.</summary>
    public static int RowBlock(int k, int tile, int bytesPerElement) => Math.Max(tile, (131072 / Math.Max(k * bytesPerElement, 1)) / tile * tile);
}
