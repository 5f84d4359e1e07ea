namespace EdgeQuant.Camera.Frames;

/// <summary>A source of frames: a camera, a process writing raw frames, or files.</summary>
internal interface IFrameSource : IDisposable
{
    /// <summary>Largest frame in bytes (buffers are sized once from it).</summary>
    int MaxFrameBytes { get; }

    /// <summary>
    /// True for cameras: frames arrive at the camera's pace on a capture thread and the newest one wins (older ones are
    /// dropped, never queued). False for files: every frame is read in order when the pipeline asks for it.
    /// </summary>
    bool Live { get; }

    /// <summary>A line describing the source (format, size, device).</summary>
    string Describe();

    /// <summary>Fills <paramref name="into"/> with the next frame; false at the end of a file source. Live sources block until a frame arrives.</summary>
    /// <exception cref="IOException">The device or process failed (unplugged camera, process exited); live sources retry.</exception>
    bool Read(Frame into, CancellationToken cancel);
}
