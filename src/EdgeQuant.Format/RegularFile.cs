using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace EdgeQuant.Format;

/// <summary>
/// The one check every file input goes through before anything is read or mapped: the path (links followed) must
/// name a regular file — devices such as /dev/zero, pipes, sockets and directories would hang, read forever or claim
/// sizes they do not have — and its real size is what the caller may read.
/// </summary>
public static partial class RegularFile
{
    /// <summary>The size of the regular file at <paramref name="path"/>, or null when it is a device, pipe, socket or directory.</summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty (a caller's mistake, not a missing file).</exception>
    /// <exception cref="FileNotFoundException">Nothing exists at <paramref name="path"/>.</exception>
    /// <exception cref="IOException">The file cannot be examined.</exception>
    public static long? SizeOf(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path) && !Directory.Exists(path)) throw new FileNotFoundException($"'{path}' does not exist", path);
        if (!OperatingSystem.IsLinux()) return Directory.Exists(path) ? null : new FileInfo(path).Length;
        // statx(2) has one layout on every architecture: stx_mode (u16) at byte 28, stx_size (u64) at byte 40.
        Span<byte> buf = stackalloc byte[256];
        if (Statx(AtFdCwd, path, 0, StatxType | StatxSize, ref buf[0]) != 0)
            throw new IOException($"cannot examine '{path}' (errno {Marshal.GetLastPInvokeError()})");
        int mode = BinaryPrimitives.ReadUInt16LittleEndian(buf[28..]);
        return (mode & 0xF000) == 0x8000 ? (long)BinaryPrimitives.ReadUInt64LittleEndian(buf[40..]) : null;
    }

    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1, StatxSize = 0x200;

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, ref byte buf);
}
