// EdgeQuant model file, format version 2 (see docs/FORMAT.md for the full text). Version 2 adds the optional
// metadata "plan" (stem and head op graphs); the binary layout is version 1's, so version-1 files still load.
//
// All integers little-endian. Offsets are from the start of the file.
//
//   Header (64 bytes)
//     0  u8[8]  magic "EQMODEL\x1A"
//     8  u32    format version (2; 1 is read too)
//    12  u32    header size in bytes (64)
//    16  u32    endianness tag 0x01020304 (reads as 0x04030201 on a byte-swapped file)
//    20  u32    quantization-scheme version (1: symmetric s8, per-channel weights, Q31 multiplier + shift)
//    24  u64    file size in bytes
//    32  u64    metadata offset      (UTF-8 JSON, see ModelMetadata)
//    40  u32    metadata size
//    44  u32    tensor count
//    48  u64    tensor table offset  (tensor count x 128-byte entries)
//    56  u32    CRC-32 of metadata bytes followed by tensor table bytes
//    60  u32    CRC-32 of header bytes 0..59
//
//   Tensor entry (128 bytes)
//     0  u8[64] name, UTF-8, zero-padded, at least one trailing zero
//    64  u8     dtype  (TensorDType)
//    65  u8     layout (TensorLayout)
//    66  u8     rank (1..6)
//    67  u8     reserved, 0
//    68  u32[6] dims (unused dims 0)
//    92  u32    CRC-32 of the tensor's data
//    96  u64    data offset (multiple of 64)
//   104  u64    data size in bytes (= product(dims) * dtype size)
//   112  u8[16] reserved, 0
//
//   Data: each tensor 64-byte aligned so a mmapped file can be read in place by SIMD kernels.
namespace EdgeQuant.Format;

/// <summary>Constants of the EdgeQuant model file layout, format version 2.</summary>
public static class ModelFileLayout
{
    /// <summary>The 8 magic bytes at offset 0.</summary>
    public static ReadOnlySpan<byte> Magic => "EQMODEL\x1A"u8;

    /// <summary>The format version this library writes and reads.</summary>
    public const uint FormatVersion = 2;

    /// <summary>The oldest format version this library reads (version 1 files have the same layout and no plan).</summary>
    public const uint MinReadableFormatVersion = 1;

    /// <summary>The quantization-scheme version this library writes and reads.</summary>
    public const uint QuantSchemeVersion = 1;

    /// <summary>Header size in bytes.</summary>
    public const int HeaderSize = 64;

    /// <summary>Endianness tag as written by a little-endian writer.</summary>
    public const uint EndianTag = 0x01020304;

    /// <summary>Size of one tensor-table entry in bytes.</summary>
    public const int TensorEntrySize = 128;

    /// <summary>Maximum tensor name length in UTF-8 bytes (one byte stays zero).</summary>
    public const int MaxNameBytes = 63;

    /// <summary>Maximum tensor rank.</summary>
    public const int MaxRank = 6;

    /// <summary>Alignment of every tensor's data in the file.</summary>
    public const int DataAlignment = 64;

    /// <summary>Rounds <paramref name="value"/> up to a multiple of <see cref="DataAlignment"/>.</summary>
    public static long Align(long value) => (value + DataAlignment - 1) & ~(long)(DataAlignment - 1);
}

/// <summary>Element type of a stored tensor.</summary>
public enum TensorDType : byte
{
    /// <summary>IEEE 754 binary32.</summary>
    F32 = 1,
    /// <summary>Signed 8-bit integer.</summary>
    S8 = 2,
    /// <summary>Unsigned 8-bit integer.</summary>
    U8 = 3,
    /// <summary>Signed 32-bit integer.</summary>
    S32 = 4,
    /// <summary>Signed 16-bit integer.</summary>
    S16 = 5,
    /// <summary>bfloat16: the upper 16 bits of an IEEE 754 binary32 (decoder 4-bit group scales).</summary>
    BF16 = 6,
}

/// <summary>Memory layout of a stored tensor.</summary>
public enum TensorLayout : byte
{
    /// <summary>Plain row-major (C order) over the listed dims. Weights are stored [out, in].</summary>
    RowMajor = 0,
    /// <summary>
    /// 4-bit weights in a u8 tensor [out, RowBytes(in)]: each row in groups of 32 weights in 16 bytes, byte i of a group
    /// holding weight i (low nibble) and weight i + 16 (high nibble), two's complement, in [−7, 7]; rows padded with 0
    /// weights to a multiple of 32. Identical on every ISA (kernels unpack groups with one load and two masks).
    /// </summary>
    S4Blocks32 = 1,
    /// <summary>
    /// 4-bit weights for the GEMV-friendly decoder kernels, in a u8 tensor [ceil(out/8), ceil(in/32)·128]: panels of 8
    /// output channels, each a run of 128-byte blocks of 32 inputs. In block kb of panel p, byte q·32 + c·4 + t (quad q
    /// in 0..3, column c in 0..7, t in 0..3) holds, for channel 8p + c, input kb·32 + 4q + t in its low nibble and input
    /// kb·32 + 16 + 4q + t in its high nibble, each as w + 8 (offset binary, w in [−7, 7], so 1..15); padding (channels
    /// past out, inputs past in) is w = 0 (nibble 8). One 32-byte load gives two steps of 4 inputs × 8 channels.
    /// </summary>
    S4Panels8 = 2,
}

/// <summary>Helpers on <see cref="TensorDType"/>.</summary>
public static class TensorDTypeExtensions
{
    /// <summary>Bytes per element, or 0 for an unknown dtype.</summary>
    public static int ElementSize(this TensorDType dtype) => dtype switch
    {
        TensorDType.F32 or TensorDType.S32 => 4,
        TensorDType.S16 or TensorDType.BF16 => 2,
        TensorDType.S8 or TensorDType.U8 => 1,
        _ => 0,
    };
}
