namespace EdgeQuant.Tests;

/// <summary>A fresh temporary folder per test class instance, deleted with it (xunit disposes the class after each test).</summary>
public abstract class TempFolder : IDisposable
{
    /// <summary>The folder.</summary>
    protected string Dir { get; } = Directory.CreateTempSubdirectory("eq-test-").FullName;

    /// <inheritdoc/>
    public void Dispose()
    {
        Directory.Delete(Dir, recursive: true);
        GC.SuppressFinalize(this);
    }
}
