namespace EdgeQuant.Fuzz;

/// <summary>
/// A per-process scratch folder in /dev/shm (tmpfs, so the file-based import entry points cost no disk I/O per
/// execution), emptied before each input and removed at exit.
/// </summary>
public static class Scratch
{
    private static string? s_dir;

    /// <summary>The folder, emptied.</summary>
    public static string Fresh()
    {
        if (s_dir == null)
        {
            string root = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
            s_dir = Path.Combine(root, $"eqfuzz-{Environment.ProcessId}");
            AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(s_dir, true); } catch (IOException) { } };
        }
        if (Directory.Exists(s_dir)) Directory.Delete(s_dir, true);
        Directory.CreateDirectory(s_dir);
        return s_dir;
    }
}
