namespace EdgeQuant.Kernels.Reference;

/// <summary>Integer ReLU epilogue: per-column requantization to s8, then max(0, ·).</summary>
public static class ReluReference
{
    /// <summary>acc [rows, cols] → s8 [rows, cols].</summary>
    public static void RowsToS8(ReadOnlySpan<int> acc, ReadOnlySpan<int> multipliers, ReadOnlySpan<int> shifts, Span<sbyte> y, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                int i = r * cols + c;
                y[i] = (sbyte)Math.Max((int)Requantize.ToS8(acc[i], multipliers[c], shifts[c]), 0);
            }
    }
}
