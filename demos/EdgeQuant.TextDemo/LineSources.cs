using System.IO.Ports;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace EdgeQuant.TextDemo;

/// <summary>
/// Where query lines come from and where answers go: stdin/stdout, a TCP port (one client at a time, answers written
/// back to it), or a serial port (answers written back on the same line). Input must be UTF-8: invalid bytes are
/// answered with an error line, not guessed.
/// </summary>
internal static class LineSources
{
    /// <summary>Calls <paramref name="answer"/> for every line of <paramref name="source"/> until it ends or <paramref name="cancel"/> fires.</summary>
    public static void Serve(string source, Func<string, string> answer, CancellationToken cancel)
    {
        if (source == "stdin") Pump(Console.OpenStandardInput(), Console.OpenStandardOutput(), answer, cancel);
        else if (source.StartsWith("tcp:", StringComparison.Ordinal))
        {
            // tcp:PORT listens on loopback; tcp:ADDRESS:PORT (e.g. 0.0.0.0:7070) where asked.
            string spec = source[4..];
            int colon = spec.LastIndexOf(':');
            var address = colon < 0 ? IPAddress.Loopback : IPAddress.TryParse(spec[..colon], out var a) ? a : throw new ArgumentException($"bad address in '{source}'");
            if (!int.TryParse(spec[(colon + 1)..], out int port) || port is < 1 or > 65535) throw new ArgumentException($"bad TCP port in '{source}'");
            var listener = new TcpListener(address, port);
            listener.Start();
            Console.Error.WriteLine($"eqtext: listening on {listener.LocalEndpoint} (one line per query)");
            using var stop = cancel.Register(listener.Stop);
            while (!cancel.IsCancellationRequested)
            {
                TcpClient client;
                try { client = listener.AcceptTcpClient(); }
                catch (SocketException) when (cancel.IsCancellationRequested) { break; }
                using (client)
                using (var stream = client.GetStream())
                    try { Pump(stream, stream, answer, cancel); }
                    catch (IOException e) { Console.Error.WriteLine($"eqtext: client {client.Client.RemoteEndPoint}: {e.Message}"); }
            }
        }
        else if (source.StartsWith("serial:", StringComparison.Ordinal))
        {
            var p = source[7..].Split(':');
            int baud = p.Length > 1 && int.TryParse(p[1], out int b) ? b : 115200;
            if (!File.Exists(p[0])) throw new IOException($"no serial port {p[0]} (ports here: {string.Join(", ", SerialPort.GetPortNames().DefaultIfEmpty("none"))})");
            using var port = new SerialPort(p[0], baud) { NewLine = "\n", Encoding = new UTF8Encoding(false, true) };
            port.Open();
            using var stop = cancel.Register(port.Close);
            Pump(port.BaseStream, port.BaseStream, answer, cancel);
        }
        else throw new ArgumentException($"unknown source '{source}' (stdin, tcp:PORT, serial:DEVICE[:BAUD])");
    }

    private static void Pump(Stream input, Stream output, Func<string, string> answer, CancellationToken cancel)
    {
        // Lines are cut on bytes and decoded one by one, so an invalid line is answered with an error and the next
        // line is read normally (a decoding reader would lose its whole buffer).
        var strict = new UTF8Encoding(false, true);
        var writer = new StreamWriter(output, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
        var line = new MemoryStream();
        var buf = new byte[4096];
        while (!cancel.IsCancellationRequested)
        {
            int n = input.Read(buf);
            for (int i = 0; i < n || n == 0 && line.Length > 0; i++)
            {
                if (n > 0 && buf[i] != (byte)'\n') { line.WriteByte(buf[i]); continue; }
                var bytes = line.GetBuffer().AsSpan(0, (int)line.Length);
                if (bytes.EndsWith("\r"u8)) bytes = bytes[..^1];
                line.SetLength(0);
                if (bytes.IsEmpty) { if (n == 0) break; continue; }
                string text;
                try { text = strict.GetString(bytes); }
                catch (DecoderFallbackException) { writer.WriteLine("error: the input is not valid UTF-8"); if (n == 0) break; continue; }
                writer.WriteLine(answer(text));
                if (n == 0) break;
            }
            if (n == 0) return;
        }
    }
}
