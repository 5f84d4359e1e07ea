using EdgeQuant.Engine;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: Consumer MODEL.eqm IMAGE.pgm|ppm");
    return 2;
}
using var model = Model.Load(args[0]);
using var session = model.CreateSession();
var im = model.Image ?? throw new ArgumentException("an image model is expected");
var (pixels, height, width, channels) = ReadPnm(File.ReadAllBytes(args[1]));
var logits = new float[model.OutputLength];
session.RunPixels(pixels, height, width, channels, logits);
foreach (float v in logits) Console.WriteLine(BitConverter.SingleToUInt32Bits(v).ToString("x8"));
return 0;

// Binary PGM (P5) / PPM (P6) with maxval 255: the header is four whitespace-separated tokens.
static (byte[] Pixels, int Height, int Width, int Channels) ReadPnm(byte[] b)
{
    int pos = 0;
    string Token()
    {
        while (char.IsWhiteSpace((char)b[pos])) pos++;
        int start = pos;
        while (!char.IsWhiteSpace((char)b[pos])) pos++;
        return System.Text.Encoding.ASCII.GetString(b, start, pos - start);
    }
    string magic = Token();
    int w = int.Parse(Token()), h = int.Parse(Token()), max = int.Parse(Token());
    int c = magic == "P6" ? 3 : magic == "P5" ? 1 : throw new InvalidDataException("not a binary PGM/PPM");
    if (max != 255) throw new InvalidDataException("maxval must be 255");
    return (b.AsSpan(pos + 1, w * h * c).ToArray(), h, w, c);
}
