namespace EdgeQuant.Format;

/// <summary>One validated row of the tensor table.</summary>
public sealed class TensorEntry(string name, TensorDType dtype, TensorLayout layout, int[] dims, long offset, long size, uint crc)
{
    /// <summary>Unique tensor name.</summary>
    public string Name { get; } = name;
    /// <summary>Element type.</summary>
    public TensorDType DType { get; } = dtype;
    /// <summary>Memory layout.</summary>
    public TensorLayout Layout { get; } = layout;
    /// <summary>Dimensions, outermost first.</summary>
    public int[] Dims { get; } = dims;
    /// <summary>Offset of the data from the start of the file (multiple of 64).</summary>
    public long Offset { get; } = offset;
    /// <summary>Size of the data in bytes.</summary>
    public long Size { get; } = size;
    /// <summary>CRC-32 of the data.</summary>
    public uint Crc { get; } = crc;

    /// <summary>Number of elements (product of dims).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (int d in Dims) n *= d;
            return n;
        }
    }

    /// <summary>Shape as "[a, b, c]".</summary>
    public string ShapeText => "[" + string.Join(", ", Dims) + "]";
}
