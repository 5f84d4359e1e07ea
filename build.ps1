# EdgeQuant build driver for Windows/PowerShell: the parts of build.sh that make sense there.
#   ./build.ps1 build              Release build
#   ./build.ps1 test               xunit suite (x64, JIT); the arm64-under-qemu part needs Linux (build.sh test)
#   ./build.ps1 publish <target>   win-x64, or a linux-* target from targets/ when a cross toolchain is present
param([Parameter(Position = 0)][string]$Verb = "", [Parameter(Position = 1)][string]$Target = "")
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot
if (-not $env:EDGEQUANT_SHARED) { $env:EDGEQUANT_SHARED = Join-Path $PSScriptRoot "../shared" }

function Invoke-Checked([string]$exe, [string[]]$argv) {
    & $exe @argv
    if ($LASTEXITCODE -ne 0) { throw "$exe $($argv -join ' ') failed with exit code $LASTEXITCODE" }
}

switch ($Verb) {
    "build" { Invoke-Checked dotnet @("build", "EdgeQuant.sln", "-c", "Release") }
    "test" {
        Invoke-Checked dotnet @("build", "EdgeQuant.sln", "-c", "Release")
        Invoke-Checked dotnet @("test", "EdgeQuant.sln", "-c", "Release", "--no-build")
    }
    "publish" {
        if (-not $Target) { throw "usage: ./build.ps1 publish <win-x64|$((Get-ChildItem targets -Filter *.props | ForEach-Object BaseName) -join '|')>" }
        $out = "artifacts/$Target"
        if ($Target -eq "win-x64") {
            Invoke-Checked dotnet @("publish", "src/EdgeQuant.Cli", "-c", "Release", "-r", "win-x64", "-o", $out)
            Invoke-Checked dotnet @("publish", "src/EdgeQuant.Native", "-c", "Release", "-r", "win-x64", "-o", $out)
        } else {
            if (-not (Test-Path "targets/$Target.props")) { throw "unknown target '$Target'" }
            Invoke-Checked dotnet @("publish", "src/EdgeQuant.Cli", "-c", "Release", "-p:EdgeQuantTarget=$Target", "-o", $out)
            Invoke-Checked dotnet @("publish", "src/EdgeQuant.Native", "-c", "Release", "-p:EdgeQuantTarget=$Target", "-o", $out)
        }
        New-Item -ItemType Directory -Force "$out/include" | Out-Null
        Copy-Item src/EdgeQuant.Native/include/edgequant.h "$out/include/"
    }
    default { Get-Content $PSCommandPath | Select-Object -Skip 1 -First 4 | ForEach-Object { $_.TrimStart('#', ' ') }; exit 2 }
}
