using System.Diagnostics;

namespace EdgeQuant.Engine.Tests;

public class WorkerPoolTests
{
    /// <summary>Busy-works about 5 ms per item and records which thread slot ran it.</summary>
    private sealed class BusyJob : ParallelJob
    {
        public readonly int[] Slots = new int[8];
        public override void Execute(int index, int worker)
        {
            Slots[index] = worker;
            long t0 = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(t0).TotalMilliseconds < 5) Thread.SpinWait(64);
        }
    }

    [Fact]
    public void WorkersRunItemsAndParkBetweenDispatches()
    {
        using var pool = new WorkerPool(2);
        var job = new BusyJob();
        for (int round = 0; round < 3; round++) pool.Run(job, 8);
        Assert.Contains(1, job.Slots); // the worker took part

        // After the short post-dispatch spin (100 µs) the worker must be parked on the monitor, not spinning.
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency; // generous for a loaded CI machine
        while (pool.ParkedWorkers < 1 && Stopwatch.GetTimestamp() < deadline) Thread.Sleep(5);
        Assert.Equal(1, pool.ParkedWorkers);
    }
}
