using System.Runtime.InteropServices;

namespace EdgeQuant.Native;

// Text-model exports (ABI 2): token ids or UTF-8 text in.
public static unsafe partial class Exports
{
    /// <summary><c>eq_session_run_tokens</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_session_run_tokens")]
    public static int SessionRunTokens(nint session, int* inputIds, int* attentionMask, int* tokenTypeIds, int batch, int length, float* output, nuint outputCount)
    {
        try
        {
            var s = Handles.Get<NativeSession>(session, "session").Session;
            if (inputIds == null || output == null) return Fail(InvalidArgument, "input_ids and output must not be null");
            if (batch < 1 || length < 1 || (long)batch * length > int.MaxValue) return Fail(InvalidArgument, $"batch = {batch}, length = {length}: both must be positive");
            int n = batch * length, outLen = s.Model.OutputLength;
            if (outputCount < (nuint)((long)batch * outLen)) throw new BufferTooSmallException($"output has {outputCount} floats, the batch needs {(long)batch * outLen}");
            s.RunTokens(new ReadOnlySpan<int>(inputIds, n), attentionMask == null ? default : new ReadOnlySpan<int>(attentionMask, n),
                tokenTypeIds == null ? default : new ReadOnlySpan<int>(tokenTypeIds, n), batch, new Span<float>(output, batch * outLen));
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_session_run_text</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_session_run_text")]
    public static int SessionRunText(nint session, byte* text, float* output, nuint outputCount, int* outTokens)
    {
        try
        {
            var s = Handles.Get<NativeSession>(session, "session").Session;
            if (text == null || output == null) return Fail(InvalidArgument, "text and output must not be null");
            int outLen = s.Model.OutputLength;
            if (outputCount < (nuint)outLen) throw new BufferTooSmallException($"output has {outputCount} floats, the model needs {outLen}");
            int tokens = s.RunText(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(text), new Span<float>(output, outLen));
            if (outTokens != null) *outTokens = tokens;
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }

    /// <summary><c>eq_session_tokenize</c>: see include/edgequant.h.</summary>
    [UnmanagedCallersOnly(EntryPoint = "eq_session_tokenize")]
    public static int SessionTokenize(nint session, byte* text, int* ids, nuint capacity, int* outCount)
    {
        try
        {
            var s = Handles.Get<NativeSession>(session, "session").Session;
            if (text == null || ids == null || outCount == null) return Fail(InvalidArgument, "text, ids and out_count must not be null");
            if (capacity < 2) return Fail(InvalidArgument, "capacity must be at least 2 ([CLS] and [SEP])");
            *outCount = s.Tokenize(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(text), new Span<int>(ids, (int)Math.Min(capacity, int.MaxValue)));
            return Ok;
        }
        catch (Exception e) { return Map(e); }
    }
}
