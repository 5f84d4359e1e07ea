using System.Diagnostics;
using EdgeQuant.Converter.Data;
using EdgeQuant.Converter.Decoder;
using EdgeQuant.Converter.HuggingFace;
using EdgeQuant.Converter.Onnx;
using EdgeQuant.Converter.Quantization;
using EdgeQuant.Format;

namespace EdgeQuant.Converter;

/// <summary>What <see cref="ModelConverter.Convert"/> wrote: the file's size and the imported float model (an encoder or a decoder).</summary>
public sealed record ConvertResult(long Bytes, FloatEncoder? Encoder, FloatDecoder? Decoder);

/// <summary>
/// The conversion pipeline, one entry point for every front end (CLI, tests, tools): import (ONNX image or text
/// encoder, Hugging Face folder) → optional experiments → FP32 file, or static PTQ on the calibration data → write.
/// </summary>
public static class ModelConverter
{
    /// <summary>Converts <paramref name="r"/>; returns the bytes written and the imported float model.</summary>
    /// <exception cref="ArgumentException">The request is inconsistent (no source, labels that do not fit, no calibration data for int8, ...).</exception>
    public static ConvertResult Convert(ConvertRequest r)
    {
        var log = r.Log ?? (_ => { });
        if ((r.OnnxPath == null) == (r.HfDir == null)) throw new ArgumentException("give either an ONNX file or a Hugging Face folder");
        if (!Schema.Precisions.All.Contains(r.Precision)) throw new ArgumentException($"precision '{r.Precision}' is not one of {Schema.List(Schema.Precisions.All)}");
        long t0 = Stopwatch.GetTimestamp();
        if (r.HfDir != null && HfDecoderImporter.IsDecoder(r.HfDir)) return ConvertDecoder(r, log, t0);
        bool int8 = r.Precision == Schema.Precisions.Int8;
        // The ONNX file is read and parsed once; its inputs tell a text encoder (token ids) from an image encoder.
        var graph = r.OnnxPath != null ? OnnxGraph.Load(r.OnnxPath) : null;
        bool text = graph?.TakesTokenIds ?? !HfImporter.IsVision(r.HfDir!);
        FloatEncoder enc = text ? ImportText(r, graph, log) : ImportImage(r, graph, log);
        if (r.PlantOutliers is var (count, factor))
        {
            int[] ch = SyntheticOutliers.Apply(enc, count, factor);
            log($"planted outliers: channels [{string.Join(", ", ch)}] x{factor} in the LayerNorms feeding linears ({(enc.Config.NormFirst ? "FP32 function unchanged" : "post-LN: the FP32 model changes")})");
        }
        if (r.Labels.Length > 0)
        {
            if (r.Labels.Length != enc.Config.NumClasses || enc.Text is { Head: not Schema.TextHeads.Classification })
                throw new ArgumentException($"{r.Labels.Length} labels given for {enc.Config.NumClasses} outputs{(enc.Text is { Head: not Schema.TextHeads.Classification } ? " of a model that does not classify" : "")}");
            enc.Labels = r.Labels;
        }
        var writer = !int8 ? enc.ToFp32Writer() : text ? QuantizeText(enc, r, log) : QuantizeImage(enc, r, log);
        return new ConvertResult(Write(writer, r, log, t0), enc, null);
    }

    private static long Write(ModelWriter writer, ConvertRequest r, Action<string> log, long t0)
    {
        writer.Write(r.OutputPath);
        long bytes = new FileInfo(r.OutputPath).Length;
        log($"wrote {r.OutputPath} ({bytes / 1024.0:F1} KiB, {r.Precision}) in {Stopwatch.GetElapsedTime(t0).TotalSeconds:F1} s");
        return bytes;
    }

    /// <summary>Decoder LLMs: weight-only quantization (activations are quantized per token at run time, so no calibration data).</summary>
    private static ConvertResult ConvertDecoder(ConvertRequest r, Action<string> log, long t0)
    {
        if (r.Labels.Length > 0 || r.CalibImages != null || r.CalibSentences != null || r.CalibIds != null || r.PlantOutliers != null || r.ReportPath != null)
            throw new ArgumentException("a decoder LLM takes no labels, calibration data, outlier planting or report: its activations are quantized per token at run time");
        var dec = HfDecoderImporter.Import(r.HfDir!, log);
        ModelWriter writer;
        if (r.Precision == Schema.Precisions.Fp32) writer = dec.ToFp32Writer();
        else
        {
            if (r.Ptq.WeightBits is not (8 or 4)) throw new ArgumentException($"decoder weights are 8-bit or 4-bit, not {r.Ptq.WeightBits}");
            writer = DecoderQuantizer.Quantize(dec, new DecoderQuantOptions
            {
                Weights = r.Ptq.WeightBits == 4 ? Schema.DecoderWeightKinds.S4Group : Schema.DecoderWeightKinds.S8Channel,
                GroupSize = r.GroupSize,
            }, log);
        }
        return new ConvertResult(Write(writer, r, log, t0), null, dec);
    }

    private static FloatEncoder ImportText(ConvertRequest r, OnnxGraph? graph, Action<string> log) => graph == null
        ? HfImporter.Import(r.HfDir!, new HfImportOptions { Head = r.Head, MaxLength = r.MaxLength, Log = log })
        : OnnxBertImporter.Import(graph, new BertImportOptions { Head = r.Head, MaxLength = r.MaxLength, VocabPath = r.VocabPath, Log = log });

    private static FloatEncoder ImportImage(ConvertRequest r, OnnxGraph? graph, Action<string> log)
    {
        if (graph == null) return HfImporter.Import(r.HfDir!, new HfImportOptions { Log = log });
        var import = new VitImportOptions { PixelScale = r.PixelScale, Mean = r.Mean, Std = r.Std, Labels = r.Labels, Log = log };
        if (r.CalibImages is { Count: > 0 } set)
        {
            // The importer verifies the recognized encoder on a real image as well as random ones.
            var conv = new ImageConfig { Channels = set.Channels, Scale = r.PixelScale, Mean = r.Mean ?? new float[set.Channels], Std = r.Std ?? Enumerable.Repeat(1f, set.Channels).ToArray() };
            if (conv.Mean.Length == set.Channels && conv.Std.Length == set.Channels) import.VerifyInputs = [set.ToModelInput(0, conv)];
        }
        return OnnxVitImporter.Import(graph, import);
    }

    private static ModelWriter QuantizeImage(FloatEncoder enc, ConvertRequest r, Action<string> log)
    {
        var im = enc.Image!;
        var set = r.CalibImages;
        if (set == null)
        {
            if (r.CalibRandom <= 0) throw new ArgumentException("int8 conversion needs calibration images (or a number of seeded noise images for a smoke test)");
            // Seeded uniform-noise images: only for smoke tests of models without a data set.
            var noise = new byte[r.CalibRandom * im.Height * im.Width * im.Channels];
            new Random(7).NextBytes(noise);
            set = new ImageSet(noise, r.CalibRandom, im.Height, im.Width, im.Channels, null);
        }
        if (set.Height != im.Height || set.Width != im.Width || set.Channels != im.Channels)
            throw new ArgumentException($"calibration images are {set.Width}x{set.Height}x{set.Channels}, the model takes {im.Width}x{im.Height}x{im.Channels}");
        var images = new List<float[]>(set.Count);
        for (int i = 0; i < set.Count; i++) images.Add(set.ToModelInput(i, im));
        log($"static PTQ: {images.Count} {(r.CalibImages == null ? "random-noise" : "calibration")} images, calibrator {r.Ptq.Describe()}");
        var writer = EncoderQuantizer.Quantize(enc, images, r.Ptq);
        if (r.ReportPath != null)
            QuantizationReport.Write(r.ReportPath, enc, writer.ToArray(), Math.Min(32, images.Count), (s, i) =>
            {
                var y = new float[s.Model.OutputLength];
                s.Run(images[i], y);
                return y;
            }, log);
        return writer;
    }

    private static ModelWriter QuantizeText(FloatEncoder enc, ConvertRequest r, Action<string> log)
    {
        List<int[]> seqs;
        if (r.CalibIds != null)
        {
            if (r.CalibSentences != null) throw new ArgumentException("give calibration sentences or token ids, not both");
            seqs = [];
            for (int i = 0; i < r.CalibIds.Count; i++)
            {
                int[] s = r.CalibIds[i];
                if (s.Length == 0 || s.Length > enc.Config.SeqLen) throw new ArgumentException($"calibration sequence {i} has {s.Length} ids; the model takes 1 to {enc.Config.SeqLen}");
                foreach (int id in s)
                    if ((uint)id >= (uint)enc.Text!.VocabSize) throw new ArgumentException($"calibration sequence {i}: id {id} is outside the vocabulary [0, {enc.Text.VocabSize})");
                // A sequence is unpadded: the engine drops masked tokens before the blocks, so padding would change nothing.
                seqs.Add(s);
            }
            log($"static PTQ: {seqs.Count} calibration id sequences, calibrator {r.Ptq.Describe()}");
        }
        else if (r.CalibSentences != null)
        {
            if (enc.Vocab == null) throw new ArgumentException("this model has no WordPiece vocabulary, so sentences cannot be tokenized for calibration; pass token ids instead");
            var tok = Engine.Model.CreateTokenizer(enc.Text!, enc.Vocab);
            var ids = new int[enc.Config.SeqLen];
            seqs = new List<int[]>(r.CalibSentences.Count);
            foreach (string sentence in r.CalibSentences) seqs.Add(ids[..tok.Encode(sentence, ids, ids.Length)]);
            log($"static PTQ: {seqs.Count} calibration sentences, calibrator {r.Ptq.Describe()}");
        }
        else throw new ArgumentException("int8 conversion of a text model needs calibration sentences or token id sequences");
        if (seqs.Count == 0) throw new ArgumentException("no calibration sequences");
        var writer = EncoderQuantizer.Quantize(enc, seqs, r.Ptq);
        if (r.ReportPath != null)
            QuantizationReport.Write(r.ReportPath, enc, writer.ToArray(), Math.Min(32, seqs.Count), (s, i) =>
            {
                var y = new float[s.Model.OutputLength];
                s.RunTokens(seqs[i], default, default, y);
                return y;
            }, log);
        return writer;
    }
}
