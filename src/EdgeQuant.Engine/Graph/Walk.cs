namespace EdgeQuant.Engine.Graph;

/// <summary>
/// A strided walk over an output of rank ≤ 6 (padded in front with ones) with up to three operands, each with its own
/// strides (0 on a broadcast axis) and base offset: the index arithmetic of broadcasting, transposes, slices and
/// expands, prepared once. <see cref="Run{T}"/> calls the row kernel once per innermost row.
/// </summary>
internal sealed class Walk
{
    public readonly int[] Shape = new int[GraphProgram.MaxRank]; // padded output shape
    public readonly int[][] Strides;                              // per operand [6]
    public readonly int[] Base;                                   // per operand

    /// <param name="outShape">Output shape (rank ≤ 6).</param>
    /// <param name="strides">Per operand: strides aligned with <paramref name="outShape"/>.</param>
    /// <param name="bases">Per operand: offset of the output's first element.</param>
    public Walk(int[] outShape, int[][] strides, int[] bases)
    {
        int pad = GraphProgram.MaxRank - outShape.Length;
        for (int i = 0; i < GraphProgram.MaxRank; i++) Shape[i] = i < pad ? 1 : outShape[i - pad];
        Strides = new int[3][];
        Base = new int[3];
        for (int o = 0; o < 3; o++)
        {
            Strides[o] = new int[GraphProgram.MaxRank];
            if (o >= strides.Length) continue;
            for (int i = pad; i < GraphProgram.MaxRank; i++) Strides[o][i] = strides[o][i - pad];
            Base[o] = bases[o];
        }
    }

    /// <summary>
    /// Strides of an input of <paramref name="inShape"/> broadcast (numpy rules, right-aligned) to <paramref name="outShape"/>.
    /// </summary>
    public static int[] BroadcastStrides(int[] inShape, int[] outShape)
    {
        if (inShape.Length > outShape.Length)
            throw new GraphValidationException($"input {OpArgs.Text(inShape)} has a higher rank than the output {OpArgs.Text(outShape)}");
        var s = new int[outShape.Length];
        int acc = 1, shift = outShape.Length - inShape.Length;
        for (int i = inShape.Length - 1; i >= 0; i--)
        {
            int d = inShape[i], o = outShape[i + shift];
            if (d == o) s[i + shift] = acc;
            else if (d == 1) s[i + shift] = 0;
            else throw new GraphValidationException($"input {OpArgs.Text(inShape)} does not broadcast to the output {OpArgs.Text(outShape)}");
            acc *= d;
        }
        return s;
    }

    /// <summary>Calls <paramref name="k"/>.Row once per innermost output row, in output order.</summary>
    public void Run<T>(ref T k) where T : IRowKernel, allows ref struct
    {
        int[] s = Shape, a = Strides[0], b = Strides[1], c = Strides[2];
        int n = s[5], o = 0;
        for (int i0 = 0; i0 < s[0]; i0++)
            for (int i1 = 0; i1 < s[1]; i1++)
                for (int i2 = 0; i2 < s[2]; i2++)
                    for (int i3 = 0; i3 < s[3]; i3++)
                        for (int i4 = 0; i4 < s[4]; i4++)
                        {
                            int oa = Base[0] + i0 * a[0] + i1 * a[1] + i2 * a[2] + i3 * a[3] + i4 * a[4];
                            int ob = Base[1] + i0 * b[0] + i1 * b[1] + i2 * b[2] + i3 * b[3] + i4 * b[4];
                            int oc = Base[2] + i0 * c[0] + i1 * c[1] + i2 * c[2] + i3 * c[3] + i4 * c[4];
                            k.Row(o, oa, ob, oc, n, a[5], b[5], c[5]);
                            o += n;
                        }
    }
}

/// <summary>The innermost loop of a <see cref="Walk"/>: output row at <c>o</c> (contiguous), operands at their offsets and strides.</summary>
internal interface IRowKernel
{
    void Row(int o, int a, int b, int c, int n, int sa, int sb, int sc);
}
