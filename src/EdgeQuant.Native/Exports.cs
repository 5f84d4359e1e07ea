using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using EdgeQuant.Engine;
using EdgeQuant.Format;

namespace EdgeQuant.Native;

/// <summary>
/// The C ABI (include/edgequant.h). Every export catches all exceptions and maps them to a status: an exception
/// crossing an [UnmanagedCallersOnly] boundary would terminate the host process.
/// </summary>
public static unsafe partial class Exports
{
    private const int AbiVersion = 3;
    private const int Ok = 0, InvalidArgument = -1, InvalidHandle = -2, Io = -3, Format = -4, BufferTooSmall = -5, Internal = -99;

    private static readonly byte* VersionString = (byte*)Marshal.StringToCoTaskMemUTF8("edgequant 0.2 (abi 3)");
    private static readonly byte* EmptyString = (byte*)Marshal.StringToCoTaskMemUTF8("");
    private static readonly nint InputName = Marshal.StringToCoTaskMemUTF8("input");
    private static readonly nint OutputName = Marshal.StringToCoTaskMemUTF8("logits");

    [ThreadStatic] private static nint t_lastError;

    private static int Fail(int status, string message)
    {
        if (t_lastError != 0) Marshal.FreeCoTaskMem(t_lastError);
        t_lastError = Marshal.StringToCoTaskMemUTF8(message);
        return status;
    }

    private static int Map(Exception e) => e switch
    {
        HandleException h => Fail(InvalidHandle, h.Message),
        ModelFormatException => Fail(Format, e.Message),
        BufferTooSmallException => Fail(BufferTooSmall, e.Message),
        ArgumentException or InvalidOperationException => Fail(InvalidArgument, e.Message),
        FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException => Fail(Io, e.Message),
        _ => Fail(Internal, $"{e.GetType().Name}: {e.Message}"),
    };

    /// <summary><c>eq_abi_version</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_abi_version")]
    public static int AbiVersionExport() => AbiVersion;

    /// <summary><c>eq_version</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_version")]
    public static byte* Version() => VersionString;

    /// <summary><c>eq_last_error</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_last_error")]
    public static byte* LastError() => t_lastError != 0 ? (byte*)t_lastError : EmptyString;

    /// <summary><c>eq_model_load</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_model_load")]
    public static int ModelLoad(byte* path, nint* outModel)
    {
        try
        {
            if (path == null || outModel == null) return Fail(InvalidArgument, "path and out_model must not be null");
            *outModel = 0;
            string p = Marshal.PtrToStringUTF8((nint)path)!;
            *outModel = Handles.Add(new NativeModel(Model.Load(p)));
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_model_load_memory</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_model_load_memory")]
    public static int ModelLoadMemory(byte* data, nuint size, nint* outModel)
    {
        try
        {
            if (data == null || outModel == null) return Fail(InvalidArgument, "data and out_model must not be null");
            if (size > int.MaxValue) return Fail(InvalidArgument, "model buffers above 2 GiB must be loaded from a file");
            *outModel = 0;
            *outModel = Handles.Add(new NativeModel(Model.Load(new ReadOnlySpan<byte>(data, (int)size))));
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_model_destroy</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_model_destroy")]
    public static int ModelDestroy(nint model)
    {
        try
        {
            // Lookup, live-session check and removal are one atomic step: a concurrent create or destroy cannot slip in.
            var m = Handles.Take<NativeModel>(model, "model", nm => nm.Sessions > 0 ? $"model still has {nm.Sessions} live session(s); destroy them first" : null);
            m.Dispose();
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_model_get_info</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_model_get_info")]
    public static int ModelGetInfo(nint model, ModelInfo* info)
    {
        try
        {
            var nm = Handles.Get<NativeModel>(model, "model");
            var m = nm.Model;
            if (info == null) return Fail(InvalidArgument, "info must not be null");
            nuint v1 = (nuint)Marshal.OffsetOf<ModelInfo>(nameof(ModelInfo.IsText));
            if (info->Size < v1) return Fail(InvalidArgument, $"info->size is {info->Size}, expected at least {v1}");
            info->Architecture = nm.Architecture;
            info->Precision = nm.Precision;
            info->InputName = InputName;
            info->OutputName = OutputName;
            var im = m.Image;
            info->PixelScale = im?.Scale ?? 0f;
            for (int c = 0; c < 4; c++)
            {
                info->Mean[c] = im != null && c < im.Channels ? im.Mean[c] : 0f;
                info->Std[c] = im != null && c < im.Channels ? im.Std[c] : 1f;
            }
            info->Channels = im?.Channels ?? 0;
            info->Height = im?.Height ?? 0;
            info->Width = im?.Width ?? 0;
            info->NumClasses = m.OutputLength;
            info->Quantized = m.IsQuantized ? 1 : 0;
            if (info->Size >= (nuint)sizeof(ModelInfo))
            {
                // ABI 2 fields (text models); callers compiled against ABI 1 pass the smaller size and do not get them.
                info->IsText = m.IsText ? 1 : 0;
                info->MaxTokens = m.IsText ? m.MaxTokens : 0;
                info->HasTokenizer = m.HasTokenizer ? 1 : 0;
                info->IsEmbedding = m.Text is { Head: Schema.TextHeads.Embedding } ? 1 : 0;
            }
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_model_get_label</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_model_get_label")]
    public static int ModelGetLabel(nint model, int index, byte** outLabel)
    {
        try
        {
            var m = Handles.Get<NativeModel>(model, "model");
            if (outLabel == null) return Fail(InvalidArgument, "out_label must not be null");
            if ((uint)index >= (uint)m.Labels.Length) return Fail(InvalidArgument, $"label index {index} is outside 0..{m.Labels.Length - 1}");
            *outLabel = (byte*)m.Labels[index];
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_session_default_options</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_session_default_options")]
    public static void SessionDefaultOptions(SessionOptionsC* options)
    {
        if (options == null) return;
        options->Size = (nuint)sizeof(SessionOptionsC);
        options->Threads = 1;
    }

    /// <summary><c>eq_session_create</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_session_create")]
    public static int SessionCreate(nint model, SessionOptionsC* options, nint* outSession)
    {
        try
        {
            Handles.Get<NativeModel>(model, "model");
            if (outSession == null) return Fail(InvalidArgument, "out_session must not be null");
            *outSession = 0;
            if (options != null)
            {
                if (options->Size < (nuint)sizeof(SessionOptionsC)) return Fail(InvalidArgument, "options->size is too small; use eq_session_default_options");
                if (options->Threads is < 1 or > 256) return Fail(InvalidArgument, $"threads = {options->Threads}: must be 1..256");
            }
            *outSession = Handles.AddSession(model, options == null ? 1 : options->Threads);
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_session_destroy</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_session_destroy")]
    public static int SessionDestroy(nint session)
    {
        try
        {
            Handles.Take<NativeSession>(session, "session", null).Dispose();
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_session_run_f32</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_session_run_f32")]
    public static int SessionRunF32(nint session, float* input, nuint inputCount, float* logits, nuint logitsCount)
    {
        try
        {
            var s = Handles.Get<NativeSession>(session, "session").Session;
            if (input == null || logits == null) return Fail(InvalidArgument, "input and logits must not be null");
            if (inputCount > int.MaxValue) return Fail(InvalidArgument, "input buffers above 2^31 floats are not supported");
            if (s.Model.IsText) return Fail(InvalidArgument, "this is a text model: run it with eq_session_run_text or eq_session_run_tokens");
            int batch = (int)inputCount / s.Model.InputLength;
            if (logitsCount < (nuint)(batch * s.Model.OutputLength))
                throw new BufferTooSmallException($"logits has {logitsCount} floats, the batch needs {batch * s.Model.OutputLength}");
            s.Run(new ReadOnlySpan<float>(input, (int)inputCount), new Span<float>(logits, batch * s.Model.OutputLength));
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_session_run_u8</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_session_run_u8")]
    public static int SessionRunU8(nint session, byte* pixels, int height, int width, int channels, float* logits, nuint logitsCount)
    {
        try
        {
            var s = Handles.Get<NativeSession>(session, "session").Session;
            if (pixels == null || logits == null) return Fail(InvalidArgument, "pixels and logits must not be null");
            if (height <= 0 || width <= 0 || channels <= 0 || (long)height * width * channels > int.MaxValue)
                return Fail(InvalidArgument, $"bad image size {width}x{height}x{channels}");
            if ((int)Math.Min(logitsCount, int.MaxValue) < s.Model.OutputLength)
                throw new BufferTooSmallException($"logits has {logitsCount} floats, the model needs {s.Model.OutputLength}");
            s.RunPixels(new ReadOnlySpan<byte>(pixels, height * width * channels), height, width, channels, new Span<float>(logits, s.Model.OutputLength));
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_topk</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_topk")]
    public static int TopK(float* logits, nuint count, int k, int* indices, float* probabilities)
    {
        try
        {
            if (logits == null) return Fail(InvalidArgument, "logits must not be null");
            if (count == 0 || count > int.MaxValue || k < 1 || (nuint)k > count) return Fail(InvalidArgument, $"k = {k} must be in 1..count ({count})");
            // Results into a local buffer first: either output may be NULL.
            Span<int> idx = k <= 1024 ? stackalloc int[k] : new int[k];
            Span<float> prob = k <= 1024 ? stackalloc float[k] : new float[k];
            Predictions.TopK(new ReadOnlySpan<float>(logits, (int)count), idx, prob);
            if (indices != null) idx.CopyTo(new Span<int>(indices, k));
            if (probabilities != null) prob.CopyTo(new Span<float>(probabilities, k));
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }
}

/// <summary>Mirror of <c>eq_model_info</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct ModelInfo
{
    /// <summary>sizeof(eq_model_info) as set by the caller.</summary>
    public nuint Size;
    /// <summary>UTF-8 strings owned by the model.</summary>
    public nint Architecture, Precision, InputName, OutputName;
    /// <summary>Input channels, height, width.</summary>
    public int Channels, Height, Width;
    /// <summary>Number of classes.</summary>
    public int NumClasses;
    /// <summary>1 for int8.</summary>
    public int Quantized;
    /// <summary>Pixel preprocessing.</summary>
    public float PixelScale;
    /// <summary>Per-channel mean (up to 4 channels).</summary>
    public fixed float Mean[4];
    /// <summary>Per-channel std (up to 4 channels).</summary>
    public fixed float Std[4];
    /// <summary>ABI 2: 1 for text (BERT-family) models.</summary>
    public int IsText;
    /// <summary>ABI 2: longest token sequence (specials included).</summary>
    public int MaxTokens;
    /// <summary>ABI 2: 1 when the model stores a WordPiece tokenizer.</summary>
    public int HasTokenizer;
    /// <summary>ABI 2: 1 when the output is a sentence embedding [hidden] instead of logits.</summary>
    public int IsEmbedding;
}

/// <summary>Mirror of <c>eq_session_options</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SessionOptionsC
{
    /// <summary>sizeof(eq_session_options).</summary>
    public nuint Size;
    /// <summary>Threads per session.</summary>
    public int Threads;
}

internal sealed class HandleException(string message) : Exception(message);

internal sealed class BufferTooSmallException(string message) : Exception(message);

/// <summary>Opaque handles are registry ids, so foreign pointers and double destroys are detected, never dereferenced.</summary>
internal static class Handles
{
    private static readonly Dictionary<nint, object> Live = [];
    private static long s_next = 0x1000;

    public static nint Add(object o)
    {
        lock (Live)
        {
            nint h = (nint)Interlocked.Add(ref s_next, 16);
            Live[h] = o;
            return h;
        }
    }

    public static T Get<T>(nint h, string what) where T : class
    {
        lock (Live)
        {
            if (h == 0) throw new HandleException($"{what} handle is null");
            if (!Live.TryGetValue(h, out var o) || o is not T t) throw new HandleException($"{what} handle 0x{h:x} is not a live EdgeQuant {what} (destroyed twice or foreign)");
            return t;
        }
    }

    /// <summary>Atomically validates and unregisters a handle; <paramref name="veto"/> may refuse with a message.</summary>
    public static T Take<T>(nint h, string what, Func<T, string?>? veto) where T : class
    {
        lock (Live)
        {
            var t = Get<T>(h, what);
            if (veto?.Invoke(t) is string reason) throw new ArgumentException(reason);
            Live.Remove(h);
            return t;
        }
    }

    /// <summary>Creates and registers a session while holding the registry lock, so its model cannot be destroyed meanwhile.</summary>
    public static nint AddSession(nint model, int threads) => AddChild<NativeModel>(model, "model", m => new NativeSession(m, threads));

    /// <summary>Creates (from its live parent) and registers an object while holding the registry lock, so the parent cannot be destroyed meanwhile.</summary>
    public static nint AddChild<TParent>(nint parent, string what, Func<TParent, object> create) where TParent : class
    {
        lock (Live)
        {
            var p = Get<TParent>(parent, what);
            return Add(create(p));
        }
    }
}

internal sealed class NativeModel(Model model) : IDisposable
{
    public Model Model { get; } = model;
    public nint[] Labels { get; } = model.Metadata.Labels.Select(l => Marshal.StringToCoTaskMemUTF8(l)).ToArray();
    public nint Architecture { get; } = Marshal.StringToCoTaskMemUTF8(model.Metadata.Architecture);
    public nint Precision { get; } = Marshal.StringToCoTaskMemUTF8(model.Metadata.Precision);
    private int _sessions;
    public int Sessions => Volatile.Read(ref _sessions);
    public void AddSession() => Interlocked.Increment(ref _sessions);
    public void RemoveSession() => Interlocked.Decrement(ref _sessions);

    public void Dispose()
    {
        foreach (nint l in Labels) Marshal.FreeCoTaskMem(l);
        Marshal.FreeCoTaskMem(Architecture);
        Marshal.FreeCoTaskMem(Precision);
        Model.Dispose();
    }
}

internal sealed class NativeSession : IDisposable
{
    private readonly NativeModel _owner;
    public Session Session { get; }

    public NativeSession(NativeModel owner, int threads)
    {
        _owner = owner;
        Session = owner.Model.CreateSession(new SessionOptions { Threads = threads });
        owner.AddSession();
    }

    public void Dispose()
    {
        Session.Dispose();
        _owner.RemoveSession();
    }
}
