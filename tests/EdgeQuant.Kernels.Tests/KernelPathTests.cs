using EdgeQuant.Kernels.Reference;

namespace EdgeQuant.Kernels.Tests;

/// <summary>Every kernel path this CPU can run must equal the scalar reference bit for bit, on odd sizes and tails.</summary>
public class KernelPathTests
{
    public static TheoryData<string> Paths()
    {
        var d = new TheoryData<string>();
        foreach (var p in KernelTable.Available) d.Add(p);
        return d;
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void PathEqualsReference(string path)
    {
        foreach (int seed in new[] { 1, 2, 3 })
            Assert.Empty(KernelConformance.Check(KernelTable.Select(path), seed));
    }

    [Fact]
    public void ConformanceCheckDetectsADeviation() =>
        Assert.NotEmpty(KernelConformance.Check(new OffByOneGemm()));

    [Fact]
    public void ReferenceGemmMatchesDefinition()
    {
        var r = new Random(1);
        var a = new sbyte[6];
        var b = new sbyte[6];
        for (int i = 0; i < 6; i++) (a[i], b[i]) = ((sbyte)r.Next(-128, 128), (sbyte)r.Next(-128, 128));
        var c = new int[4];
        GemmS8Reference.GemmS8S8(a, 3, b, 3, [10, 20], c, 2, 2, 2, 3);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                Assert.Equal((j == 0 ? 10 : 20) + a[i * 3] * b[j * 3] + a[i * 3 + 1] * b[j * 3 + 1] + a[i * 3 + 2] * b[j * 3 + 2], c[i * 2 + j]);
        Assert.Throws<ArgumentException>(() => GemmS8Reference.GemmS8S8(a, 3, b, 3, default, c, 2, 3, 2, 3));
    }

    [Fact]
    public void UnknownPathIsAClearError() =>
        Assert.Contains("not available", Assert.Throws<ArgumentException>(() => KernelTable.Select("quantum")).Message);

    /// <summary>A deliberately wrong path: the check must catch it.</summary>
    private sealed class OffByOneGemm : KernelSet
    {
        public override string Name => "broken";
        public override void GemmS8S8(ReadOnlySpan<sbyte> a, int lda, ReadOnlySpan<sbyte> b, int ldb, ReadOnlySpan<int> bias, Span<int> c, int ldc, int m, int n, int k)
        {
            base.GemmS8S8(a, lda, b, ldb, bias, c, ldc, m, n, k);
            if (k == 67) c[0]++;
        }
    }
}
