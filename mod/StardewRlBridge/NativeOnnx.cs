using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;

namespace StardewRlBridge
{
    /// <summary>
    /// Finds ONNX Runtime's native library in the mod's own folder. SMAPI loads a mod's assemblies itself, so .NET's
    /// usual places for a native library (the game folder, the system's library path, the deps.json of an app) never
    /// include <c>Mods/StardewRlBridge/</c>: without this, <c>onnx</c> mode fails with "Unable to load shared library
    /// 'onnxruntime'". Registered once, for the Microsoft.ML.OnnxRuntime assembly, before its first call; it looks
    /// for the platform's file name (onnxruntime.dll, libonnxruntime.so, libonnxruntime.dylib) next to the mod's DLL,
    /// then in <c>runtimes/&lt;rid&gt;/native/</c> (where the csproj's build copies the NuGet package's files).
    /// </summary>
    internal static class NativeOnnx
    {
        private static bool registered;

        /// <summary>The places searched, in order, for the library the managed assembly asks for: the mod folder,
        /// then each <c>runtimes/&lt;rid&gt;/native/</c> folder of this OS and processor (the package names them
        /// e.g. win-x64, linux-x64, osx-arm64 or osx.10.14-arm64).</summary>
        public static List<string> Candidates(string modDirectory, string libraryName)
        {
            string file;
            string os;
            string arch = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "arm64" : "x64";
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows))
            {
                file = libraryName + ".dll";
                os = "win";
            }
            else if (RuntimeInformation.IsOSPlatform(OSPlatform.OSX))
            {
                file = "lib" + libraryName + ".dylib";
                os = "osx";
            }
            else
            {
                file = "lib" + libraryName + ".so";
                os = "linux";
            }
            var candidates = new List<string> { Path.Combine(modDirectory, file) };
            string runtimes = Path.Combine(modDirectory, "runtimes");
            string[] rids = Directory.Exists(runtimes) ? Directory.GetDirectories(runtimes) : new string[0];
            Array.Sort(rids, StringComparer.Ordinal);
            foreach (string dir in rids)
            {
                string rid = Path.GetFileName(dir);
                if (rid.StartsWith(os, StringComparison.Ordinal) && rid.EndsWith("-" + arch, StringComparison.Ordinal))
                    candidates.Add(Path.Combine(dir, "native", file));
            }
            if (candidates.Count == 1)
                candidates.Add(Path.Combine(runtimes, os + "-" + arch, "native", file));
            return candidates;
        }

        /// <summary>Registers the resolver for <paramref name="onnxAssembly"/> (once); <paramref name="log"/> gets
        /// one line saying where the library was found, or where it was looked for.</summary>
        public static void Register(Assembly onnxAssembly, string modDirectory, Action<string, bool> log)
        {
            if (registered)
                return;
            registered = true;
            NativeLibrary.SetDllImportResolver(onnxAssembly, (name, assembly, searchPath) =>
            {
                if (name != "onnxruntime")
                    return IntPtr.Zero;
                List<string> candidates = Candidates(modDirectory, name);
                foreach (string path in candidates)
                {
                    IntPtr handle;
                    if (File.Exists(path) && NativeLibrary.TryLoad(path, out handle))
                    {
                        log("ONNX Runtime native library: " + path, false);
                        return handle;
                    }
                }
                log("ONNX Runtime's native library is not in the mod folder (looked for " + string.Join(", ", candidates) +
                    "); copy it there from the Microsoft.ML.OnnxRuntime package (see the mod's README). " +
                    "Falling back to the system's library path.", true);
                return IntPtr.Zero; // the runtime's default search
            });
        }
    }
}
