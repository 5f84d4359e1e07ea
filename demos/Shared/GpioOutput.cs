using System.Device.Gpio;
using System.Device.Gpio.Drivers;
using System.Runtime.InteropServices;

namespace EdgeQuant.Demos;

/// <summary>
/// One output pin set high while the top label matches (`--gpio PIN --when LABEL[:p]`). The libgpiod driver is chosen
/// explicitly — `new GpioController()` picks the v2 ABI (libgpiod.so.3), which Debian 12 and Raspberry Pi OS bookworm
/// do not ship (they have libgpiod.so.2, the v1 ABI) — and what is missing is said instead of a loader exception.
/// </summary>
internal sealed class GpioOutput : IDisposable
{
    private readonly GpioController _controller;
    private readonly int _pin;
    private PinValue _state = PinValue.Low;

    /// <summary>Which driver was chosen (for the start-up line).</summary>
    public string Driver { get; }

    public GpioOutput(int chip, int pin)
    {
        string node = $"/dev/gpiochip{chip}";
        if (!File.Exists(node)) throw new IOException($"no GPIO chip {node} (this board has {string.Join(", ", Directory.GetFiles("/dev", "gpiochip*").Select(Path.GetFileName).DefaultIfEmpty("none"))})");
        GpioDriver driver;
        if (NativeLibrary.TryLoad("libgpiod.so.3", out var h3)) { NativeLibrary.Free(h3); driver = new LibGpiodV2Driver(chip); Driver = "libgpiod v2 (libgpiod.so.3)"; }
        else if (NativeLibrary.TryLoad("libgpiod.so.2", out var h2)) { NativeLibrary.Free(h2); driver = new LibGpiodDriver(chip); Driver = "libgpiod v1 (libgpiod.so.2)"; }
        else throw new IOException("libgpiod is not installed: neither libgpiod.so.3 (v2 ABI) nor libgpiod.so.2 (v1 ABI) loads (Debian/Raspberry Pi OS: apt install libgpiod2)");
        _controller = new GpioController(driver);
        _pin = pin;
        try { _controller.OpenPin(pin, PinMode.Output, PinValue.Low); }
        catch
        {
            _controller.Dispose();
            throw;
        }
    }

    /// <summary>Drives the pin; writes only on a change.</summary>
    public void Set(bool high)
    {
        var v = high ? PinValue.High : PinValue.Low;
        if (v == _state) return;
        _controller.Write(_pin, v);
        _state = v;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        try { _controller.Write(_pin, PinValue.Low); }
        catch (Exception e) when (e is IOException or InvalidOperationException) { }
        _controller.Dispose();
    }
}
