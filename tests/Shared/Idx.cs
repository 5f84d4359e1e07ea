using System.Buffers.Binary;
using System.IO.Compression;

namespace EdgeQuant.Tests;

/// <summary>IDX (MNIST-format) images and labels, optionally gzipped, for accuracy tests.</summary>
internal static class Idx
{
    private static byte[] Read(string path)
    {
        byte[] b = File.ReadAllBytes(path);
        if (b.Length < 2 || b[0] != 0x1F || b[1] != 0x8B) return b;
        using var gz = new GZipStream(new MemoryStream(b), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>Images [N, H·W] as pixel/255 floats, and their labels.</summary>
    public static (float[][] Images, int[] Labels) Load(string images, string labels)
    {
        byte[] b = Read(images), l = Read(labels);
        int n = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(4)), hw = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(8)) * BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(12));
        var x = new float[n][];
        for (int i = 0; i < n; i++)
        {
            x[i] = new float[hw];
            for (int j = 0; j < hw; j++) x[i][j] = b[16 + i * hw + j] / 255f;
        }
        return (x, l[8..].Select(v => (int)v).ToArray());
    }

    public const string FashionDir = "/usr/share/datasets/fashion-mnist";
}
