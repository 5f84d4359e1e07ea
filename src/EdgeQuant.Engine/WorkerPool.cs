namespace EdgeQuant.Engine;

/// <summary>A unit of parallel work; <see cref="Execute"/> is called once per index in [0, count).</summary>
internal abstract class ParallelJob
{
    /// <param name="index">Work item.</param>
    /// <param name="worker">Slot of the executing thread in [0, threads): 0 = caller; selects per-thread scratch.</param>
    public abstract void Execute(int index, int worker);
}

/// <summary>
/// The session's own threads: (threads − 1) workers plus the calling thread. After a dispatch, workers (and the caller
/// waiting for them) spin for at most <see cref="SpinMicroseconds"/> before blocking on a monitor: a run's next
/// dispatch usually follows within microseconds, and waking a parked thread costs tens of microseconds (a VM's futex
/// wake-up), about 100 dispatches per DeiT-S run. Between runs the workers are parked (no idle spinning). A dispatch
/// allocates nothing. Not reentrant: one dispatch at a time per pool.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    /// <summary>Longest busy-wait before parking, for workers awaiting the next dispatch and for the caller awaiting workers.</summary>
    public const int SpinMicroseconds = 100;

    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency * SpinMicroseconds / 1_000_000;

    private readonly Thread[] _workers;
    private readonly object _gate = new();
    private ParallelJob? _job;
    private int _count, _next, _pending, _active, _parked;
    private long _generation;
    private bool _stopping;
    private Exception? _error;

    public WorkerPool(int threads)
    {
        _workers = new Thread[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            int slot = i + 1;
            _workers[i] = new Thread(() => WorkerLoop(slot)) { IsBackground = true, Name = $"edgequant-worker-{i + 1}" };
            _workers[i].Start();
        }
    }

    public int Threads => _workers.Length + 1;

    /// <summary>Workers blocked on the monitor right now (diagnostics and tests: all of them once the pool is idle).</summary>
    internal int ParkedWorkers { get { lock (_gate) return _parked; } }

    /// <summary>Runs job.Execute(0..count−1) on all threads and returns when every index is done.</summary>
    public void Run(ParallelJob job, int count)
    {
        if (count <= 0) return;
        lock (_gate)
        {
            _job = job;
            _count = count;
            _next = 0;
            _pending = count;
            _error = null;
            _generation++;
            Monitor.PulseAll(_gate);
        }
        Drain(job, count, 0);
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        var spinner = new SpinWait(); // yields to other runnable threads after a few spins (more threads than cores)
        while ((Volatile.Read(ref _pending) > 0 || Volatile.Read(ref _active) > 0) && System.Diagnostics.Stopwatch.GetTimestamp() - t0 < SpinTicks)
            spinner.SpinOnce(sleep1Threshold: -1);
        lock (_gate)
        {
            // Also wait for workers still inside Drain, so none can touch the next dispatch's counters with this job.
            while (_pending > 0 || _active > 0) Monitor.Wait(_gate);
            _job = null;
            if (_error != null) throw new InvalidOperationException("a worker failed: " + _error.Message, _error);
        }
    }

    private void Drain(ParallelJob job, int count, int worker)
    {
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < count)
        {
            try { job.Execute(i, worker); }
            catch (Exception e) { lock (_gate) _error ??= e; }
            if (Interlocked.Decrement(ref _pending) == 0)
                lock (_gate) Monitor.PulseAll(_gate);
        }
    }

    private void WorkerLoop(int slot)
    {
        long seen = 0;
        while (true)
        {
            ParallelJob? job;
            int count;
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            var spinner = new SpinWait();
            while (Volatile.Read(ref _generation) == seen && !Volatile.Read(ref _stopping) && System.Diagnostics.Stopwatch.GetTimestamp() - t0 < SpinTicks)
                spinner.SpinOnce(sleep1Threshold: -1);
            lock (_gate)
            {
                while (!_stopping && (_generation == seen || _job == null))
                {
                    _parked++;
                    Monitor.Wait(_gate);
                    _parked--;
                }
                if (_stopping) return;
                seen = _generation;
                job = _job;
                count = _count;
                _active++;
            }
            Drain(job!, count, slot);
            lock (_gate)
            {
                _active--;
                Monitor.PulseAll(_gate);
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        foreach (var t in _workers) t.Join();
    }
}
