namespace EdgeQuant.Converter.Onnx;

/// <summary>
/// A parsed ONNX file, loaded once and handed to the importer that fits it (<see cref="TakesTokenIds"/> tells
/// which), so a large model is read and parsed only once.
/// </summary>
public sealed class OnnxGraph
{
    internal OnnxModel Model { get; }

    /// <summary>The file it was read from.</summary>
    public string Path { get; }

    /// <summary>True when the graph takes token ids (an input named input_ids): a BERT-family encoder.</summary>
    public bool TakesTokenIds => Model.Inputs.Any(i => i.Name == "input_ids");

    private OnnxGraph(OnnxModel model, string path) => (Model, Path) = (model, path);

    /// <summary>Reads and parses <paramref name="path"/>; throws <see cref="OnnxImportException"/> when it is not a readable ONNX model.</summary>
    public static OnnxGraph Load(string path) => new(OnnxModel.Load(path), path);
}
