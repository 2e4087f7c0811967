// Reference stub of .NET 6's System.Runtime.InteropServices.NativeLibrary and DllImportResolver (in
// System.Runtime.InteropServices.dll / System.Private.CoreLib on .NET 6, the runtime SMAPI 4 runs on; Mono, which
// the tests compile with, lacks them). Follows dotnet/runtime, tag v6.0.0:
// src/libraries/System.Private.CoreLib/src/System/Runtime/InteropServices/NativeLibrary.cs and
// src/libraries/System.Runtime.InteropServices/ref/System.Runtime.InteropServices.cs. Written for the tests: the
// BEHAVIOUR build records the resolver so the test host can ask it where it finds a library.
using System;
using System.Collections.Generic;
using System.Reflection;

#if BEHAVIOUR
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("ModHost")]
#endif

namespace System.Runtime.InteropServices
{
    public delegate IntPtr DllImportResolver(string libraryName, Assembly assembly, DllImportSearchPath? searchPath);

    public static class NativeLibrary
    {
        internal static readonly Dictionary<Assembly, DllImportResolver> resolvers = new Dictionary<Assembly, DllImportResolver>();
        internal static readonly List<string> loaded = new List<string>();

        public static IntPtr Load(string libraryPath)
        {
            IntPtr handle;
            if (!TryLoad(libraryPath, out handle))
                throw new DllNotFoundException(libraryPath);
            return handle;
        }

        public static bool TryLoad(string libraryPath, out IntPtr handle)
        {
            if (libraryPath == null)
                throw new ArgumentNullException("libraryPath");
            bool found = System.IO.File.Exists(libraryPath);
            if (found)
                loaded.Add(libraryPath);
            handle = found ? new IntPtr(loaded.Count) : IntPtr.Zero;
            return found;
        }

        public static void SetDllImportResolver(Assembly assembly, DllImportResolver resolver)
        {
            if (assembly == null)
                throw new ArgumentNullException("assembly");
            if (resolver == null)
                throw new ArgumentNullException("resolver");
            if (resolvers.ContainsKey(assembly))
                throw new InvalidOperationException("A resolver is already set for the assembly.");
            resolvers[assembly] = resolver;
        }
    }
}
