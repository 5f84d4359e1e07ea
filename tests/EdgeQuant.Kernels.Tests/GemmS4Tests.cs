using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.Tests;

/// <summary>The 4-bit weight layout and the s8 × s4 GEMM on every path, including several unpacked column blocks.</summary>
public class GemmS4Tests
{
    [Fact]
    public void PackingFollowsTheDocumentedLayout()
    {
        // Weights p = 0..39 of one row: p % 15 − 7, so every value in [−7, 7] appears.
        var w = new sbyte[40];
        for (int p = 0; p < 40; p++) w[p] = (sbyte)(p % 15 - 7);
        byte[] packed = GemmS4Reference.Pack(w, 1, 40);
        Assert.Equal(32, GemmS4Reference.RowBytes(40));
        Assert.Equal(32, packed.Length);
        // Group 0: byte i = w[i] (low nibble) | w[i + 16] (high nibble); group 1 holds w[32..39], padding 0.
        Assert.Equal((byte)((w[0] & 15) | (w[16] & 15) << 4), packed[0]);
        Assert.Equal((byte)((w[15] & 15) | (w[31] & 15) << 4), packed[15]);
        Assert.Equal((byte)(w[32] & 15), packed[16]);
        Assert.Equal(0, packed[31]);
        for (int p = 0; p < 40; p++) Assert.Equal(w[p], GemmS4Reference.Get(packed, p));
        Assert.Throws<ArgumentOutOfRangeException>(() => GemmS4Reference.Pack([-8], 1, 1));
    }

    [Theory]
    [MemberData(nameof(KernelPathTests.Paths), MemberType = typeof(KernelPathTests))]
    public void ManyColumnBlocksEqualTheReference(string path)
    {
        var r = new Random(7);
        // n spans 2+ unpacked blocks (m < 6) or packed panel blocks (m ≥ 6: the x64 outer-product tiles, m tails)
        foreach (var (m, n, k) in new[] { (5, 700, 300), (3, 1300, 768), (1, 2051, 97), (13, 700, 768), (197, 150, 1000) })
        {
            var a = new sbyte[m * k];
            for (int i = 0; i < a.Length; i++) a[i] = (sbyte)r.Next(-127, 128);
            var w = new sbyte[n * k];
            for (int i = 0; i < w.Length; i++) w[i] = (sbyte)r.Next(-7, 8);
            var bias = new int[n];
            var wsum = new int[n];
            for (int j = 0; j < n; j++) { bias[j] = r.Next(-99999, 99999); for (int p = 0; p < k; p++) wsum[j] += w[j * k + p]; }
            byte[] packed = GemmS4Reference.Pack(w, n, k);
            int[] want = new int[m * n], got = new int[m * n];
            GemmS8Reference.GemmS8S8(a, k, w, k, bias, want, n, m, n, k);
            KernelTable.Select(path).GemmS8S4(a, k, packed, GemmS4Reference.RowBytes(k), bias, wsum, got, n, m, n, k);
            Assert.Equal(want, got);
        }
    }

    /// <summary>
    /// Largest sums the fast paths can meet: a' = 255 (a = 127) against −8 or 7 everywhere (the x64 outer-product tiles
    /// add eight u8 × s4 pair sums in int16 before widening; the reference defines −8 although the loader rejects it).
    /// </summary>
    [Theory]
    [MemberData(nameof(KernelPathTests.Paths), MemberType = typeof(KernelPathTests))]
    public void ExtremeValuesEqualTheReference(string path)
    {
        const int m = 7, n = 17, k = 2100;
        foreach (byte nibbles in new byte[] { 0x88, 0x77, 0x87 })
            foreach (sbyte av in new sbyte[] { 127, -128 })
            {
                int rb = GemmS4Reference.RowBytes(k);
                var packed = new byte[n * rb];
                for (int j = 0; j < n; j++)
                    for (int p = 0; p < k; p += 32)
                        for (int i = 0; i < 16 && p + i < k; i++)
                            packed[j * rb + p / 2 + i] = (byte)(p + 16 + i < k ? nibbles : nibbles & 15); // padding nibbles stay 0
                var a = new sbyte[m * k];
                Array.Fill(a, av);
                var wsum = new int[n];
                for (int j = 0; j < n; j++) for (int p = 0; p < k; p++) wsum[j] += GemmS4Reference.Get(packed.AsSpan(j * rb, rb), p);
                int[] want = new int[m * n], got = new int[m * n];
                GemmS4Reference.GemmS8S4(a, k, packed, rb, default, want, n, m, n, k);
                KernelTable.Select(path).GemmS8S4(a, k, packed, rb, default, wsum, got, n, m, n, k);
                Assert.Equal(want, got);
            }
    }

    [Fact]
    public void ShortPackedOperandIsRejected()
    {
        var packed = new byte[GemmS4Reference.RowBytes(64) * 2 - 1];
        var ex = Assert.Throws<ArgumentException>(() => GemmS4Reference.GemmS8S4(new sbyte[64], 64, packed, GemmS4Reference.RowBytes(64), default, new int[2], 2, 1, 2, 64));
        Assert.Contains("too short", ex.Message);
    }
}
