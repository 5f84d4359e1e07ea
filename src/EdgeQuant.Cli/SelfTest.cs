namespace EdgeQuant.Cli;

internal static class SelfTest
{
    public static int Execute(string[] argv) => throw new UsageException("selftest is not built yet");
}
