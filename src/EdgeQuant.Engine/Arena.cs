using System.Runtime.InteropServices;

namespace EdgeQuant.Engine;

/// <summary>One 64-byte-aligned native block carved into fixed regions at session creation; never grows.</summary>
internal sealed unsafe class Arena : IDisposable
{
    private byte* _base;
    private readonly long _size;

    public Arena(long size)
    {
        _size = Math.Max(size, 64);
        _base = (byte*)NativeMemory.AlignedAlloc((nuint)_size, 64);
        NativeMemory.Clear(_base, (nuint)_size);
    }

    public long Size => _size;

    public Span<T> Get<T>(Region r) where T : unmanaged => new(_base + r.Offset, r.Count);

    public void Dispose()
    {
        if (_base != null) NativeMemory.AlignedFree(_base);
        _base = null;
    }
}

/// <summary>A typed region of an <see cref="Arena"/>.</summary>
internal readonly record struct Region(long Offset, int Count);

/// <summary>Lays regions out one after another, 64-byte aligned.</summary>
internal sealed class ArenaPlan
{
    public long Size { get; private set; }

    public unsafe Region Add<T>(long count) where T : unmanaged
    {
        if (count > int.MaxValue) throw new InvalidOperationException("arena region too large");
        var r = new Region(Size, (int)count);
        Size = (Size + count * sizeof(T) + 63) & ~63L;
        return r;
    }
}
