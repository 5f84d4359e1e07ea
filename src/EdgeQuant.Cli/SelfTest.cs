using System.Runtime.InteropServices;
using EdgeQuant.Converter.Data;
using EdgeQuant.Engine;
using EdgeQuant.Engine.Decoder;
using EdgeQuant.Format;
using EdgeQuant.Kernels;

namespace EdgeQuant.Cli;

/// <summary>
/// <c>edgequant selftest</c>: the engine checks that must hold on the device itself (used under qemu for arm64):
/// every kernel path this CPU supports equals the reference, a model runs without allocating, bad input is rejected,
/// and an FNV-1a-64 hash of the model's outputs (no OpenSSL needed on the device) is printed so runs on different ISAs can be compared bit for bit.
/// </summary>
internal static class SelfTest
{
    public static int Execute(string[] argv)
    {
        var a = new Args(argv, new HashSet<string>());
        var models = new List<string>(a.Positional);
        string? images = a.Str("images");
        int count = a.Int("count", 64);
        a.CheckAllUsed();
        int passed = 0, failed = 0;
        void Check(bool ok, string what)
        {
            if (ok) passed++;
            else failed++;
            Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {what}");
        }

        Console.WriteLine($"cpu: {RuntimeInformation.ProcessArchitecture}, {Features()}; kernel paths: {string.Join(", ", KernelTable.Available)} (default {KernelTable.Default.Name})");
        foreach (string path in KernelTable.Available)
            for (int seed = 1; seed <= 3; seed++)
            {
                var fails = KernelConformance.Check(KernelTable.Select(path), seed);
                foreach (var f in fails.Take(5)) Console.WriteLine("     " + f);
                Check(fails.Count == 0, $"kernel path '{path}' equals the reference (seed {seed})");
            }

        ImageSet? set = images != null ? ImageSources.ReadIdx(images, null) : null;
        foreach (string file in models)
        {
            if (ModelFile.PeekArchitecture(file) == Schema.Architectures.Decoder)
            {
                CheckDecoder(file, Check);
                continue;
            }
            using var model = Model.Load(file);
            if (model.IsText)
            {
                CheckText(model, Path.GetFileName(file), count, Check);
                continue;
            }
            var im = model.Image!;
            bool useSet = set != null && set.Height == im.Height && set.Width == im.Width && set.Channels == im.Channels;
            foreach (string path in KernelTable.Available)
            {
                using var s = model.CreateSession(new SessionOptions { Kernels = KernelTable.Select(path) });
                var logits = new float[model.OutputLength];
                var all = new float[count * model.OutputLength]; // [count, classes]
                var rnd = new Random(42);
                var pixels = new byte[model.InputLength];
                long before = 0;
                for (int i = 0; i < count; i++)
                {
                    if (useSet) set!.Image(i % set.Count).CopyTo(pixels);
                    else rnd.NextBytes(pixels);
                    if (i == 1) before = GC.GetAllocatedBytesForCurrentThread();
                    s.RunPixels(pixels, im.Height, im.Width, im.Channels, logits);
                    logits.CopyTo(all, i * model.OutputLength);
                }
                long allocated = count > 1 ? GC.GetAllocatedBytesForCurrentThread() - before : 0;
                Check(allocated == 0, $"{Path.GetFileName(file)} [{path}]: RunPixels allocated {allocated} bytes after warm-up");
                // Threads split GEMM columns, heads and rows, never a sum: 4 threads, splitting every step, give the 1-thread bits.
                using (var s4 = model.CreateSession(new SessionOptions { Kernels = KernelTable.Select(path), Threads = ThreadsChecked, MinParallelMacs = 0 }))
                {
                    var rnd4 = new Random(42);
                    bool same = true;
                    for (int i = 0; i < Math.Min(count, 8); i++)
                    {
                        if (useSet) set!.Image(i % set.Count).CopyTo(pixels);
                        else rnd4.NextBytes(pixels);
                        s4.RunPixels(pixels, im.Height, im.Width, im.Channels, logits);
                        same &= logits.AsSpan().SequenceEqual(all.AsSpan(i * model.OutputLength, model.OutputLength));
                    }
                    Check(same, $"{Path.GetFileName(file)} [{path}]: {ThreadsChecked} threads give the 1-thread outputs bit for bit");
                }
                string hash = Fnv1a64(MemoryMarshal.AsBytes(all.AsSpan())).ToString("x16");
                Console.WriteLine($"output-hash {Path.GetFileName(file)} {model.Metadata.Precision} {path} {count} {(useSet ? "images" : "noise")} {hash}");
                var bad = new float[model.InputLength];
                bad[0] = float.NaN;
                Check(Throws(() => s.Run(bad, logits)), $"{Path.GetFileName(file)} [{path}]: NaN input rejected");
                Check(Throws(() => s.Run(new float[model.InputLength + 1], logits)), $"{Path.GetFileName(file)} [{path}]: wrong input size rejected");
                Check(Throws(() => s.RunPixels(pixels, im.Height + 1, im.Width, im.Channels, logits)), $"{Path.GetFileName(file)} [{path}]: wrong image size rejected");
            }
        }
        Console.WriteLine($"selftest: {passed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }

    /// <summary>
    /// A text model on every kernel path: seeded batches of 2 right-padded sequences of random ids (lengths 1..max), plus
    /// the stored tokenizer on a fixed sentence; 0 bytes allocated after warm-up; bad ids, masks and lengths rejected; output hash.
    /// </summary>
    private static void CheckText(Model model, string name, int count, Action<bool, string> check)
    {
        var tx = model.Text!;
        int max = model.MaxTokens, outLen = model.OutputLength;
        foreach (string path in KernelTable.Available)
        {
            using var s = model.CreateSession(new SessionOptions { Kernels = KernelTable.Select(path) });
            var rnd = new Random(42);
            var ids = new int[2 * max];   // [2, max]
            var mask = new int[2 * max];  // [2, max]
            var types = new int[2 * max]; // [2, max]
            var output = new float[2 * outLen];
            var all = new float[count * 2 * outLen]; // [count, 2, outputs]
            // Two right-padded sequences of random lengths 1..max; the second half of each is type 1 when the model has types.
            void FillBatch(Random r)
            {
                Array.Clear(mask);
                for (int b = 0; b < 2; b++)
                {
                    int len = 1 + r.Next(max);
                    for (int j = 0; j < max; j++)
                    {
                        ids[b * max + j] = j < len ? r.Next(tx.VocabSize) : 0;
                        mask[b * max + j] = j < len ? 1 : 0;
                        types[b * max + j] = j < len && tx.TypeVocabSize > 1 && j >= len / 2 ? 1 : 0;
                    }
                }
            }
            long before = 0;
            for (int i = 0; i < count; i++)
            {
                FillBatch(rnd);
                if (i == 1) before = GC.GetAllocatedBytesForCurrentThread();
                s.RunTokens(ids, mask, types, 2, output);
                output.CopyTo(all, i * 2 * outLen);
            }
            long allocated = count > 1 ? GC.GetAllocatedBytesForCurrentThread() - before : 0;
            check(allocated == 0, $"{name} [{path}]: RunTokens allocated {allocated} bytes after warm-up");
            using (var s4 = model.CreateSession(new SessionOptions { Kernels = KernelTable.Select(path), Threads = ThreadsChecked, MinParallelMacs = 0 }))
            {
                // The first batch again on 4 threads: bit for bit the 1-thread outputs.
                FillBatch(new Random(42));
                s4.RunTokens(ids, mask, types, 2, output);
                check(output.AsSpan().SequenceEqual(all.AsSpan(0, 2 * outLen)), $"{name} [{path}]: {ThreadsChecked} threads give the 1-thread outputs bit for bit");
            }
            if (model.HasTokenizer)
            {
                var one = new float[outLen];
                s.RunText("The engine runs on a Raspberry Pi: naïve café, 日本語 👍!", one);
                long b0 = GC.GetAllocatedBytesForCurrentThread();
                s.RunText("The engine runs on a Raspberry Pi: naïve café, 日本語 👍!", one);
                check(GC.GetAllocatedBytesForCurrentThread() == b0, $"{name} [{path}]: RunText allocated nothing");
                Array.Resize(ref all, all.Length + outLen);
                one.CopyTo(all, all.Length - outLen);
            }
            string hash = Fnv1a64(MemoryMarshal.AsBytes(all.AsSpan())).ToString("x16");
            Console.WriteLine($"output-hash {name} {model.Metadata.Precision} {path} {count} token-batches {hash}");
            var one1 = new float[outLen];
            check(Throws(() => s.RunTokens([tx.VocabSize], default, default, one1)), $"{name} [{path}]: out-of-vocabulary id rejected");
            check(Throws(() => s.RunTokens(new int[max + 1], default, default, one1)), $"{name} [{path}]: sequence longer than {max} rejected");
            check(Throws(() => s.RunTokens([1, 2], [0, 0], default, one1)), $"{name} [{path}]: fully masked sequence rejected");
            check(Throws(() => s.RunTokens([1, 2], [1, 2], default, one1)), $"{name} [{path}]: mask value 2 rejected");
            check(Throws(() => s.RunTokens([1, 2, 3], default, default, 2, new float[2 * outLen])), $"{name} [{path}]: ragged batch rejected");
        }
    }

    /// <summary>
    /// A decoder LLM: greedy continuation of a fixed prompt on every kernel path at 1 and <see cref="ThreadsChecked"/>
    /// threads (prefill in chunks of 3, then M = 1 steps) must give the reference path's tokens and logit bits; the hash
    /// covers both (compared across ISAs by build.sh), and a generated token allocates nothing.
    /// </summary>
    private static void CheckDecoder(string file, Action<bool, string> check)
    {
        using var model = DecoderModel.Load(file);
        string name = Path.GetFileName(file);
        int v = model.Config.VocabSize;
        int[] prompt = [.. Enumerable.Range(0, 9).Select(i => (i * 7919 + 3) % v)];
        const int steps = 16;
        (int[] Ids, float[] Logits) Greedy(DecoderSession s)
        {
            var ids = new int[steps];
            var logits = new float[steps * v];
            s.Feed(prompt);
            for (int i = 0; i < steps; i++)
            {
                s.Logits.CopyTo(logits.AsSpan(i * v));
                ids[i] = Sampler.ArgMax(s.Logits);
                s.Feed(ids[i]);
            }
            return (ids, logits);
        }
        (int[] Ids, float[] Logits)? want = null;
        foreach (string path in KernelTable.Available.Reverse()) // the reference first
            foreach (int threads in new[] { 1, ThreadsChecked })
            {
                using var s = model.CreateSession(new DecoderSessionOptions { Kernels = KernelTable.Select(path), Threads = threads, PrefillChunk = 3, MinParallelMacs = 0 });
                var got = Greedy(s);
                want ??= got;
                check(got.Ids.AsSpan().SequenceEqual(want.Value.Ids) && got.Logits.AsSpan().SequenceEqual(want.Value.Logits),
                    $"{name} [{path}, {threads} threads]: greedy tokens and logits equal the reference path's");
                if (threads != 1) continue;
                ulong hash = Fnv1a64(MemoryMarshal.AsBytes(got.Ids.AsSpan())) ^ Fnv1a64(MemoryMarshal.AsBytes(got.Logits.AsSpan()));
                Console.WriteLine($"output-hash {name} {model.Metadata.Precision} {path} {steps} greedy-tokens {hash:x16}");
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 4; i++) s.Feed(got.Ids[i]);
                check(GC.GetAllocatedBytesForCurrentThread() == before, $"{name} [{path}]: a generated token allocates nothing");
            }
    }

    /// <summary>Threads of the second session each model is checked with (Raspberry Pi boards have 4 cores).</summary>
    private const int ThreadsChecked = 4;

    private static ulong Fnv1a64(ReadOnlySpan<byte> data)
    {
        ulong h = 14695981039346656037UL;
        foreach (byte b in data) h = (h ^ b) * 1099511628211UL;
        return h;
    }

    private static bool Throws(Action a)
    {
        try { a(); return false; }
        catch (ArgumentException) { return true; }
    }

    private static string Features() => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.Arm64 => $"AdvSimd={System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported}, Dp={System.Runtime.Intrinsics.Arm.Dp.IsSupported}",
        Architecture.X64 => $"AVX2={System.Runtime.Intrinsics.X86.Avx2.IsSupported}, AVX512BW={System.Runtime.Intrinsics.X86.Avx512BW.IsSupported}",
        _ => "no SIMD paths",
    };
}
