using System.Buffers.Binary;
using System.Text;
using EdgeQuant.Format;

namespace EdgeQuant.Tests;

/// <summary>Crafted model files: edits that keep every checksum valid, as a hostile writer would.</summary>
internal static class FileMutation
{
    /// <summary>Byte offset of tensor-table entry <paramref name="i"/>.</summary>
    public static int EntryOffset(byte[] b, int i) => (int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(48)) + i * ModelFileLayout.TensorEntrySize;

    /// <summary>Recomputes the metadata/table CRC and then the header CRC.</summary>
    public static void FixTableCrc(byte[] b)
    {
        int metaOff = (int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(32));
        int metaSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(40));
        int count = (int)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(44));
        int tableOff = (int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(48));
        uint crc = Crc32.Append(Crc32.Compute(b.AsSpan(metaOff, metaSize)), b.AsSpan(tableOff, count * ModelFileLayout.TensorEntrySize));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(56), crc);
        FixHeaderCrc(b);
    }

    /// <summary>Recomputes the header CRC.</summary>
    public static void FixHeaderCrc(byte[] b) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(60), Crc32.Compute(b.AsSpan(0, 60)));

    /// <summary>A copy whose metadata JSON has the first <paramref name="find"/> replaced (padded with spaces to the same length), CRCs fixed.</summary>
    public static byte[] ReplaceInMetadata(byte[] file, string find, string replace)
    {
        var b = (byte[])file.Clone();
        int metaOff = (int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(32));
        int metaSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(40));
        string json = Encoding.UTF8.GetString(b, metaOff, metaSize);
        int at = json.IndexOf(find, StringComparison.Ordinal);
        if (at < 0 || replace.Length > find.Length) throw new ArgumentException($"'{find}' is not in the metadata or '{replace}' is longer");
        json = json[..at] + replace.PadRight(find.Length) + json[(at + find.Length)..];
        Encoding.UTF8.GetBytes(json).CopyTo(b, metaOff);
        FixTableCrc(b);
        return b;
    }
}
