using System.Buffers.Binary;
using EdgeQuant.Format;
using EdgeQuant.Tests;

namespace EdgeQuant.Format.Tests;

public class ModelFileTests
{
    private static byte[] Sample()
    {
        var w = new ModelWriter();
        w.Metadata.Labels = ["a", "b"];
        w.Add<float>("x.f", TensorDType.F32, new float[] { 1, 2, 3 }, 3);
        w.Add<sbyte>("x.w", TensorDType.S8, new sbyte[] { -1, 2, -3, 4, 5, 6 }, 2, 3);
        w.Add<int>("x.b", TensorDType.S32, new[] { 7, -8 }, 2);
        return w.ToArray();
    }

    private static ModelFormatError ErrorOf(byte[] bytes)
    {
        var e = Assert.Throws<ModelFormatException>(() => ModelFile.FromMemory(bytes).Dispose());
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
        return e.Error;
    }

    private static int EntryOffset(byte[] b, int i) => FileMutation.EntryOffset(b, i);
    private static void FixTableCrc(byte[] b) => FileMutation.FixTableCrc(b);
    private static void FixHeaderCrc(byte[] b) => FileMutation.FixHeaderCrc(b);

    [Fact]
    public void RoundTripPreservesTensorsAndMetadata()
    {
        using var f = ModelFile.FromMemory(Sample());
        Assert.Equal(["a", "b"], f.Metadata.Labels);
        Assert.Equal(3, f.Tensors.Count);
        var w = f.Require("x.w", TensorDType.S8, 2, 3);
        Assert.Equal(new sbyte[] { -1, 2, -3, 4, 5, 6 }, f.Data<sbyte>(w).ToArray());
        Assert.Equal(new[] { 7, -8 }, f.Data<int>(f.Require("x.b", TensorDType.S32, 2)).ToArray());
        foreach (var t in f.Tensors) Assert.Equal(0, t.Offset % 64);
    }

    [Fact]
    public void OpensFromDiskThroughMmap()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, Sample());
            using var f = ModelFile.Open(path);
            Assert.Equal(new float[] { 1, 2, 3 }, f.Data<float>(f.Require("x.f", TensorDType.F32, 3)).ToArray());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void DevicesPipesAndDirectoriesAreRefusedBeforeMapping()
    {
        // /dev/zero would map as an endless zero file and a pipe would block: both are refused by their type.
        Assert.Contains("not a regular file", Assert.Throws<IOException>(() => ModelFile.Open("/dev/zero")).Message);
        Assert.Contains("not a regular file", Assert.Throws<IOException>(() => ModelFile.Open(Path.GetTempPath())).Message);
        string fifo = Path.Combine(Path.GetTempPath(), $"eq-fifo-{Environment.ProcessId}");
        using (var mk = System.Diagnostics.Process.Start("mkfifo", fifo)) mk.WaitForExit();
        try { Assert.Contains("not a regular file", Assert.Throws<IOException>(() => ModelFile.Open(fifo)).Message); }
        finally { File.Delete(fifo); }
        Assert.Throws<FileNotFoundException>(() => ModelFile.Open("/nonexistent/model.eqm"));
        Assert.ThrowsAny<ArgumentException>(() => ModelFile.Open("")); // the C ABI's "bad argument", not "I/O"
        Assert.Null(RegularFile.SizeOf("/dev/null"));
    }

    [Fact]
    public void BadMagic()
    {
        var b = Sample();
        b[0] = (byte)'X';
        Assert.Equal(ModelFormatError.BadMagic, ErrorOf(b));
    }

    [Fact]
    public void FutureFormatVersion()
    {
        var b = Sample();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), ModelFileLayout.FormatVersion + 1);
        FixHeaderCrc(b);
        Assert.Equal(ModelFormatError.UnsupportedVersion, ErrorOf(b));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), 0);
        FixHeaderCrc(b);
        Assert.Equal(ModelFormatError.UnsupportedVersion, ErrorOf(b));
    }

    [Fact]
    public void VersionOneFilesStillLoad()
    {
        // Version 2 only added the optional metadata "plan": a version-1 header over the same bytes reads the same.
        var b = Sample();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), 1);
        FixHeaderCrc(b);
        using var f = ModelFile.FromMemory(b);
        Assert.Equal(1u, f.FormatVersion);
        Assert.Null(f.Metadata.Plan);
    }

    [Fact]
    public void FutureQuantSchemeVersion()
    {
        var b = Sample();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(20), 9);
        FixHeaderCrc(b);
        Assert.Equal(ModelFormatError.UnsupportedVersion, ErrorOf(b));
    }

    [Fact]
    public void ByteSwappedFile()
    {
        var b = Sample();
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(16), ModelFileLayout.EndianTag);
        Assert.Equal(ModelFormatError.WrongEndianness, ErrorOf(b));
    }

    [Theory]
    [InlineData(10)]
    [InlineData(100)]
    [InlineData(-1)]
    public void TruncatedFile(int keep)
    {
        var b = Sample();
        int n = keep < 0 ? b.Length - 1 : keep;
        Assert.Equal(ModelFormatError.Truncated, ErrorOf(b[..n]));
    }

    [Fact]
    public void HeaderCorruption()
    {
        var b = Sample();
        b[44] ^= 0x01; // tensor count
        Assert.Equal(ModelFormatError.ChecksumMismatch, ErrorOf(b));
    }

    [Fact]
    public void TensorOffsetPastEnd()
    {
        var b = Sample();
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(EntryOffset(b, 1) + 96), (ulong)b.Length - 64 + 128);
        FixTableCrc(b);
        Assert.Equal(ModelFormatError.OutOfBounds, ErrorOf(b));
    }

    [Fact]
    public void HugeSizeDoesNotOverflowBoundsCheck()
    {
        var b = Sample();
        int e = EntryOffset(b, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(e + 96), ulong.MaxValue - 8);
        FixTableCrc(b);
        Assert.Equal(ModelFormatError.OutOfBounds, ErrorOf(b));
    }

    [Fact]
    public void MisalignedTensor()
    {
        var b = Sample();
        int e = EntryOffset(b, 1);
        ulong off = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(e + 96));
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(e + 96), off + 4);
        FixTableCrc(b);
        Assert.Equal(ModelFormatError.Misaligned, ErrorOf(b));
    }

    [Fact]
    public void DataChecksumMismatch()
    {
        var b = Sample();
        int e = EntryOffset(b, 2);
        int off = (int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(e + 96));
        b[off] ^= 0x40;
        var ex = Assert.Throws<ModelFormatException>(() => ModelFile.FromMemory(b).Dispose());
        Assert.Equal(ModelFormatError.ChecksumMismatch, ex.Error);
        Assert.Contains("x.b", ex.Message);
        using var unchecked_ = ModelFile.FromMemory(b, verifyData: false); // opt-out of data CRCs still validates structure
    }

    [Fact]
    public void SizeInconsistentWithDims()
    {
        var b = Sample();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(EntryOffset(b, 0) + 68), 4);
        FixTableCrc(b);
        Assert.Equal(ModelFormatError.BadTensorEntry, ErrorOf(b));
    }

    [Fact]
    public void UnknownDType()
    {
        var b = Sample();
        b[EntryOffset(b, 0) + 64] = 77;
        FixTableCrc(b);
        Assert.Equal(ModelFormatError.BadTensorEntry, ErrorOf(b));
    }

    [Fact]
    public void MalformedMetadata()
    {
        var b = Sample();
        int metaOff = (int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(32));
        b[metaOff] = (byte)'!';
        FixTableCrc(b);
        Assert.Equal(ModelFormatError.BadMetadata, ErrorOf(b));
    }

    [Fact]
    public void RequireNamesMissingAndMisshapedTensors()
    {
        using var f = ModelFile.FromMemory(Sample());
        Assert.Contains("'nope'", Assert.Throws<ModelFormatException>(() => f.Require("nope", TensorDType.F32, 1)).Message);
        Assert.Contains("[3, 2]", Assert.Throws<ModelFormatException>(() => f.Require("x.w", TensorDType.S8, 3, 2)).Message);
        Assert.Contains("S8", Assert.Throws<ModelFormatException>(() => f.Require("x.w", TensorDType.F32, 2, 3)).Message);
    }

    [Fact]
    public void WriterRejectsBadTensors()
    {
        var w = new ModelWriter();
        Assert.Throws<ArgumentException>(() => w.Add<float>("a", TensorDType.F32, new float[3], 2, 2));
        Assert.Throws<ArgumentException>(() => w.Add<float>(new string('n', 64), TensorDType.F32, new float[1], 1));
        w.Add<float>("a", TensorDType.F32, new float[1], 1);
        Assert.Throws<ArgumentException>(() => w.Add<float>("a", TensorDType.F32, new float[1], 1));
    }

    [Fact]
    public void Crc32MatchesKnownVector() => Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
}
