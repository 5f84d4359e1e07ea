using System.Buffers.Binary;
using EdgeQuant.Format;

namespace EdgeQuant.Fuzz;

/// <summary>
/// Recomputes the CRC-32s of a mutated .eqm (each tensor's data CRC, the metadata+table CRC, the header CRC) so the
/// fuzzer reaches the validation behind the checksums. Fields are read with the same bounds the loader applies; a
/// region that is out of bounds keeps its stale CRC (the loader must refuse that file for the bounds anyway).
/// </summary>
public static class ChecksumFixer
{
    /// <summary>Fixes the CRCs of <paramref name="file"/> in place.</summary>
    public static void Fix(Span<byte> file)
    {
        const int H = ModelFileLayout.HeaderSize, E = ModelFileLayout.TensorEntrySize;
        if (file.Length < H) return;
        ulong metaOff = BinaryPrimitives.ReadUInt64LittleEndian(file[32..]), tableOff = BinaryPrimitives.ReadUInt64LittleEndian(file[48..]);
        uint metaSize = BinaryPrimitives.ReadUInt32LittleEndian(file[40..]), count = BinaryPrimitives.ReadUInt32LittleEndian(file[44..]);
        ulong len = (ulong)file.Length;
        bool tableOk = tableOff <= len && count <= (len - tableOff) / E;
        if (tableOk)
            for (int i = 0; i < (int)count; i++)
            {
                var entry = file.Slice((int)tableOff + i * E, E);
                ulong off = BinaryPrimitives.ReadUInt64LittleEndian(entry[96..]), size = BinaryPrimitives.ReadUInt64LittleEndian(entry[104..]);
                if (off <= len && size <= len - off)
                    BinaryPrimitives.WriteUInt32LittleEndian(entry[92..], Crc32.Compute(file.Slice((int)off, (int)size)));
            }
        if (metaOff <= len && metaSize <= len - metaOff && tableOk)
        {
            uint crc = Crc32.Append(Crc32.Compute(file.Slice((int)metaOff, (int)metaSize)), file.Slice((int)tableOff, (int)count * E));
            BinaryPrimitives.WriteUInt32LittleEndian(file[56..], crc);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(file[60..], Crc32.Compute(file[..60]));
    }
}
