using System.Runtime.InteropServices;
using EdgeQuant.Engine.Decoder;
using EdgeQuant.Format;

namespace EdgeQuant.Native;

// Decoder language-model exports (ABI 3): token ids in, logits / sampled token ids out.
public static unsafe partial class Exports
{
    /// <summary>Longest context a decoder session may be created with (the engine's limit on trained positions).</summary>
    private const int MaxDecoderContext = 1 << 24;

    /// <summary><c>eq_decoder_load</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_decoder_load")]
    public static int DecoderLoad(byte* path, nint* outDecoder)
    {
        try
        {
            if (path == null || outDecoder == null) return Fail(InvalidArgument, "path and out_decoder must not be null");
            *outDecoder = 0;
            string p = Marshal.PtrToStringUTF8((nint)path)!;
            var model = DecoderModel.Load(p);
            try { *outDecoder = Handles.Add(new NativeDecoder(model)); }
            catch { model.Dispose(); throw; }
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_decoder_destroy</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_decoder_destroy")]
    public static int DecoderDestroy(nint decoder)
    {
        try
        {
            var d = Handles.Take<NativeDecoder>(decoder, "decoder", nd => nd.Sessions > 0 ? $"decoder still has {nd.Sessions} live session(s); destroy them first" : null);
            d.Dispose();
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_decoder_get_info</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_decoder_get_info")]
    public static int DecoderGetInfo(nint decoder, DecoderInfo* info)
    {
        try
        {
            var d = Handles.Get<NativeDecoder>(decoder, "decoder");
            if (info == null) return Fail(InvalidArgument, "info must not be null");
            if (info->Size < (nuint)sizeof(DecoderInfo)) return Fail(InvalidArgument, $"info->size is {info->Size}, expected at least {sizeof(DecoderInfo)}");
            var c = d.Model.Config;
            info->ModelType = d.ModelType;
            info->Precision = d.Precision;
            info->VocabSize = c.VocabSize;
            info->ContextTrained = c.MaxPositions;
            info->Layers = c.Layers;
            info->Hidden = c.Hidden;
            info->Heads = c.Heads;
            info->KvHeads = c.KvHeads;
            info->HeadDim = c.HeadDim;
            info->MlpDim = c.MlpDim;
            info->WeightBits = c.Quant == null ? 32 : c.Quant.Weights == Schema.DecoderWeightKinds.S4Group ? 4 : 8;
            info->BosId = c.BosId;
            info->EosCount = d.EosCount;
            info->EosIds = d.EosIds;
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_decoder_session_create</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_decoder_session_create")]
    public static int DecoderSessionCreate(nint decoder, int threads, int contextLength, nint* outSession)
    {
        try
        {
            Handles.Get<NativeDecoder>(decoder, "decoder");
            if (outSession == null) return Fail(InvalidArgument, "out_session must not be null");
            *outSession = 0;
            if (threads is < 1 or > 256) return Fail(InvalidArgument, $"threads = {threads}: must be 1..256");
            if (contextLength is < 0 or > MaxDecoderContext) return Fail(InvalidArgument, $"context_length = {contextLength}: must be 0 (the model's) .. {MaxDecoderContext}");
            *outSession = Handles.AddChild<NativeDecoder>(decoder, "decoder", d => new NativeDecoderSession(d, threads, contextLength));
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_decoder_session_destroy</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_decoder_session_destroy")]
    public static int DecoderSessionDestroy(nint session)
    {
        try
        {
            Handles.Take<NativeDecoderSession>(session, "decoder session", null).Dispose();
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_decoder_feed</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_decoder_feed")]
    public static int DecoderFeed(nint session, int* ids, nuint count, float* logits, nuint logitsCount)
    {
        try
        {
            var s = Handles.Get<NativeDecoderSession>(session, "decoder session");
            if (ids == null) return Fail(InvalidArgument, "ids must not be null");
            if (count == 0) return Fail(InvalidArgument, "no token ids to feed (count is 0)");
            if (count > int.MaxValue) return Fail(InvalidArgument, $"count = {count}: too many ids");
            int vocab = s.Vocab;
            if (logits != null && logitsCount < (nuint)vocab)
                throw new BufferTooSmallException($"logits has {logitsCount} floats, the vocabulary {vocab}");
            s.Feed(new ReadOnlySpan<int>(ids, (int)count));
            s.CanContinue = true;
            if (logits != null) s.Session.Logits.CopyTo(new Span<float>(logits, vocab));
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_decoder_reset</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_decoder_reset")]
    public static int DecoderReset(nint session)
    {
        try
        {
            Handles.Get<NativeDecoderSession>(session, "decoder session").Reset();
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_decoder_position</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_decoder_position")]
    public static int DecoderPosition(nint session, int* outPosition, int* outContextLength)
    {
        try
        {
            var s = Handles.Get<NativeDecoderSession>(session, "decoder session").Session;
            if (outPosition == null) return Fail(InvalidArgument, "out_position must not be null");
            *outPosition = s.Position;
            if (outContextLength != null) *outContextLength = s.ContextLength;
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_sampling_default_options</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_sampling_default_options")]
    public static void SamplingDefaultOptions(SamplingOptionsC* options)
    {
        if (options == null) return;
        var d = new SamplingOptions();
        *options = new SamplingOptionsC
        {
            Size = (nuint)sizeof(SamplingOptionsC),
            Temperature = d.Temperature,
            TopK = d.TopK,
            TopP = d.TopP,
            RepetitionPenalty = d.RepetitionPenalty,
            RepetitionWindow = d.RepetitionWindow,
            Seed = d.Seed,
        };
    }

    /// <summary><c>eq_sampler_create</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_sampler_create")]
    public static int SamplerCreate(int vocab, SamplingOptionsC* options, nint* outSampler)
    {
        try
        {
            if (outSampler == null) return Fail(InvalidArgument, "out_sampler must not be null");
            *outSampler = 0;
            if (vocab < 1 || vocab > Engine.Model.MaxVocabulary) return Fail(InvalidArgument, $"vocab = {vocab}: must be 1..{Engine.Model.MaxVocabulary}");
            var o = new SamplingOptions();
            if (options != null)
            {
                if (options->Size < (nuint)sizeof(SamplingOptionsC)) return Fail(InvalidArgument, "options->size is too small; use eq_sampling_default_options");
                o.Temperature = options->Temperature;
                o.TopK = options->TopK;
                o.TopP = options->TopP;
                o.RepetitionPenalty = options->RepetitionPenalty;
                o.RepetitionWindow = options->RepetitionWindow;
                o.Seed = options->Seed;
            }
            try { o.Validate(); }
            catch (ArgumentOutOfRangeException e) { return Fail(InvalidArgument, e.Message.Split(" (Parameter")[0]); }
            *outSampler = Handles.Add(new NativeSampler(vocab, new Sampler(vocab, o)));
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_sampler_destroy</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_sampler_destroy")]
    public static int SamplerDestroy(nint sampler)
    {
        try
        {
            Handles.Take<NativeSampler>(sampler, "sampler", null);
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_sampler_next</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_sampler_next")]
    public static int SamplerNext(nint sampler, float* logits, nuint logitsCount, int* history, nuint historyCount, int* outToken)
    {
        try
        {
            var s = Handles.Get<NativeSampler>(sampler, "sampler");
            if (logits == null || outToken == null) return Fail(InvalidArgument, "logits and out_token must not be null");
            if (history == null && historyCount != 0) return Fail(InvalidArgument, "history is null but history_count is not 0");
            if (logitsCount != (nuint)s.Vocab) return Fail(InvalidArgument, $"logits has {logitsCount} values, the sampler's vocabulary {s.Vocab}");
            if (historyCount > int.MaxValue) return Fail(InvalidArgument, $"history_count = {historyCount}: too many ids");
            var x = new ReadOnlySpan<float>(logits, s.Vocab);
            for (int i = 0; i < x.Length; i++)
                if (float.IsNaN(x[i]) || float.IsPositiveInfinity(x[i])) return Fail(InvalidArgument, $"logit {i} is {x[i]}: logits must be finite or -inf");
            *outToken = s.Sampler.Next(x, new ReadOnlySpan<int>(history, (int)historyCount));
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_decoder_generate</c>: see include/edgequant.h. Allocates nothing per generated token.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_decoder_generate")]
    public static int DecoderGenerate(nint session, nint sampler, int* prompt, nuint promptCount, int maxTokens, int* stopIds, nuint stopCount,
        delegate* unmanaged<int, void*, int> callback, void* user, int* outGenerated)
    {
        try
        {
            if (outGenerated != null) *outGenerated = 0;
            var s = Handles.Get<NativeDecoderSession>(session, "decoder session");
            var smp = Handles.Get<NativeSampler>(sampler, "sampler");
            if (prompt == null && promptCount != 0) return Fail(InvalidArgument, "prompt is null but prompt_count is not 0");
            if (stopIds == null && stopCount != 0) return Fail(InvalidArgument, "stop_ids is null but stop_count is not 0");
            if (promptCount > int.MaxValue || stopCount > int.MaxValue) return Fail(InvalidArgument, "prompt_count and stop_count must be below 2^31");
            if (maxTokens < 1) return Fail(InvalidArgument, $"max_tokens = {maxTokens}: must be >= 1");
            if (smp.Vocab != s.Vocab) return Fail(InvalidArgument, $"the sampler's vocabulary ({smp.Vocab}) is not the model's ({s.Vocab})");
            var ds = s.Session;
            int n = (int)promptCount;
            if (n == 0 && !s.CanContinue)
                return Fail(InvalidArgument, ds.Position == 0 ? "the session is empty: give a prompt"
                    : "no eq_decoder_feed since the last generation, whose last token is not in the cache: give it as the prompt");
            // Every feed of the run must fit: the prompt, then each generated token but the last.
            long need = (long)ds.Position + n + maxTokens - 1;
            if (need > ds.ContextLength)
                return Fail(InvalidArgument, $"context full: {ds.Position} tokens in the cache + {n} prompt + {maxTokens} max_tokens - 1 exceed the context length {ds.ContextLength} (eq_decoder_reset, or a longer context_length)");
            if (n > 0) s.Feed(new ReadOnlySpan<int>(prompt, n));
            s.CanContinue = false; // the logits are consumed by the first sample
            var eos = s.EosIds;
            var stops = new ReadOnlySpan<int>(stopIds, (int)stopCount);
            int generated = 0;
            while (true)
            {
                int next = smp.Sampler.Next(ds.Logits, s.History);
                generated++;
                if (outGenerated != null) *outGenerated = generated;
                if (callback != null && callback(next, user) != 0) break;
                if (eos.Contains(next) || stops.Contains(next) || generated == maxTokens) break;
                s.Feed(next);
            }
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }
}

/// <summary>Mirror of <c>eq_decoder_info</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct DecoderInfo
{
    /// <summary>sizeof(eq_decoder_info) as set by the caller.</summary>
    public nuint Size;
    /// <summary>UTF-8 strings owned by the decoder.</summary>
    public nint ModelType, Precision;
    /// <summary>Dimensions.</summary>
    public int VocabSize, ContextTrained, Layers, Hidden, Heads, KvHeads, HeadDim, MlpDim;
    /// <summary>32 (float), 8 or 4.</summary>
    public int WeightBits;
    /// <summary>BOS id or −1.</summary>
    public int BosId;
    /// <summary>Number of EOS ids.</summary>
    public int EosCount;
    /// <summary>EOS ids, owned by the decoder.</summary>
    public int* EosIds;
}

/// <summary>Mirror of <c>eq_sampling_options</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SamplingOptionsC
{
    /// <summary>sizeof(eq_sampling_options).</summary>
    public nuint Size;
    /// <summary><see cref="SamplingOptions.Temperature"/>.</summary>
    public float Temperature;
    /// <summary><see cref="SamplingOptions.TopK"/>.</summary>
    public int TopK;
    /// <summary><see cref="SamplingOptions.TopP"/>.</summary>
    public float TopP;
    /// <summary><see cref="SamplingOptions.RepetitionPenalty"/>.</summary>
    public float RepetitionPenalty;
    /// <summary><see cref="SamplingOptions.RepetitionWindow"/>.</summary>
    public int RepetitionWindow;
    /// <summary><see cref="SamplingOptions.Seed"/>.</summary>
    public ulong Seed;
}

internal sealed unsafe class NativeDecoder : IDisposable
{
    public DecoderModel Model { get; }
    public nint ModelType { get; }
    public nint Precision { get; }
    /// <summary>EOS ids in native memory (eq_decoder_info hands out the pointer); never null.</summary>
    public int* EosIds { get; }
    public int EosCount { get; }
    private int _sessions;
    public int Sessions => Volatile.Read(ref _sessions);
    public void AddSession() => Interlocked.Increment(ref _sessions);
    public void RemoveSession() => Interlocked.Decrement(ref _sessions);

    public NativeDecoder(DecoderModel model)
    {
        Model = model;
        var eos = model.Config.EosIds ?? [];
        EosCount = eos.Length;
        EosIds = (int*)NativeMemory.Alloc((nuint)Math.Max(1, eos.Length), sizeof(int));
        eos.CopyTo(new Span<int>(EosIds, eos.Length));
        ModelType = Marshal.StringToCoTaskMemUTF8(model.Config.ModelType);
        Precision = Marshal.StringToCoTaskMemUTF8(model.Metadata.Precision);
    }

    public void Dispose()
    {
        NativeMemory.Free(EosIds);
        Marshal.FreeCoTaskMem(ModelType);
        Marshal.FreeCoTaskMem(Precision);
        Model.Dispose();
    }
}

/// <summary>A decoder session with the ids of its cache (the repetition penalty's history), held for the generate loop.</summary>
internal sealed class NativeDecoderSession : IDisposable
{
    private readonly NativeDecoder _owner;
    private readonly int[] _history; // [context length]
    private readonly int[] _eos;
    public DecoderSession Session { get; }
    public int Vocab { get; }

    public NativeDecoderSession(NativeDecoder owner, int threads, int contextLength)
    {
        _owner = owner;
        Session = owner.Model.CreateSession(new DecoderSessionOptions { Threads = threads, ContextLength = contextLength });
        try { _history = new int[Session.ContextLength]; }
        catch { Session.Dispose(); throw; }
        _eos = owner.Model.Config.EosIds ?? [];
        Vocab = owner.Model.Config.VocabSize;
        owner.AddSession();
    }

    /// <summary>The ids in the cache, oldest first.</summary>
    public ReadOnlySpan<int> History => _history.AsSpan(0, Session.Position);

    public ReadOnlySpan<int> EosIds => _eos;

    public void Feed(ReadOnlySpan<int> ids)
    {
        int p = Session.Position;
        try { Session.Feed(ids); }
        finally { ids[..(Session.Position - p)].CopyTo(_history.AsSpan(p)); } // whatever reached the cache
    }

    public void Feed(int id)
    {
        int p = Session.Position;
        Session.Feed(id);
        _history[p] = id;
    }

    /// <summary>The logits are those of an <c>eq_decoder_feed</c> not yet sampled by a generation (prompt_count 0 may continue).</summary>
    public bool CanContinue { get; set; }

    public void Reset()
    {
        Session.Reset();
        CanContinue = false;
    }

    public void Dispose()
    {
        Session.Dispose();
        _owner.RemoveSession();
    }
}

internal sealed class NativeSampler(int vocab, Sampler sampler)
{
    public int Vocab { get; } = vocab;
    public Sampler Sampler { get; } = sampler;
}
