using System.Text.Json;

namespace EdgeQuant.Tests;

/// <summary>One text case of an expected.json: a batch of id rows with mask and types, and the PyTorch output rows.</summary>
internal sealed record TextCase(int[] Ids, int[] Mask, int[] Types, int Batch, float[] Output)
{
    /// <summary>Reads {"cases": [{input_ids, attention_mask, token_type_ids: [batch][seq], output: [batch][n]}]} (tools/testmodels).</summary>
    public static List<TextCase> Load(string expectedJson)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(expectedJson));
        var list = new List<TextCase>();
        int[] Flat(JsonElement e) => e.EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetInt32())).ToArray();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            int batch = c.GetProperty("input_ids").GetArrayLength();
            float[] y = c.GetProperty("output").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
            list.Add(new TextCase(Flat(c.GetProperty("input_ids")), Flat(c.GetProperty("attention_mask")), Flat(c.GetProperty("token_type_ids")), batch, y));
        }
        return list;
    }
}
