namespace EdgeQuant.Bench;

internal static class KernelBenchmarks
{
    public static int Execute(string[] args) => 0;
}
