using EdgeQuant.Camera.Frames;

namespace EdgeQuant.Camera;

/// <summary>
/// Hands the newest camera frame to the classifier through three buffers (capture writes one, one waits, the
/// classifier reads one): a frame that was not taken before the next one arrived is dropped and counted, never queued,
/// so latency stays one frame when the model is slower than the camera.
/// </summary>
internal sealed class LatestFrame(int capacity)
{
    private Frame _back = new(capacity), _ready = new(capacity), _front = new(capacity);
    private bool _fresh;
    private readonly object _sync = new();

    /// <summary>Frames replaced before the classifier took them.</summary>
    public long Dropped { get; private set; }

    /// <summary>The buffer the capture thread fills next.</summary>
    public Frame Back => _back;

    /// <summary>Publishes <see cref="Back"/> as the newest frame.</summary>
    public void Publish()
    {
        lock (_sync)
        {
            if (_fresh) Dropped++;
            (_back, _ready) = (_ready, _back);
            _fresh = true;
            Monitor.Pulse(_sync);
        }
    }

    /// <summary>The newest frame, waiting for one; null when cancelled.</summary>
    public Frame? Take(CancellationToken cancel)
    {
        lock (_sync)
        {
            while (!_fresh)
            {
                if (cancel.IsCancellationRequested) return null;
                Monitor.Wait(_sync, 100);
            }
            (_front, _ready) = (_ready, _front);
            _fresh = false;
            return _front;
        }
    }
}
