// Reference stub of 0Harmony.dll (Harmony 2.2, the version SMAPI 4.0 bundles): the members the stardew-rl mod uses.
// Follows pardeike/Harmony, tag v2.2.2.0: Harmony/Public/Harmony.cs (Harmony(string), Patch),
// Harmony/Tools/AccessTools.cs (Method(Type, string, Type[], Type[])) and Harmony/Public/HarmonyMethod.cs
// (HarmonyMethod(Type, string, Type[]), HarmonyMethod(MethodInfo)). Written for the tests: Patch records a postfix,
// and the BEHAVIOUR build of the game stub runs the recorded postfixes after its patched methods, binding their
// parameters the way Harmony does (by the original's parameter names, __result by reference, __instance). It does
// not rewrite code as the real Harmony does.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;

#if BEHAVIOUR
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("Stardew Valley")]
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("ModHost")]
#endif

namespace HarmonyLib
{
    public class Harmony
    {
        private static readonly List<KeyValuePair<MethodBase, MethodInfo>> postfixes = new List<KeyValuePair<MethodBase, MethodInfo>>();

        public string Id { get; private set; }

        public Harmony(string id)
        {
            if (string.IsNullOrEmpty(id))
                throw new ArgumentException("id cannot be null or empty");
            Id = id;
        }

        public MethodInfo Patch(MethodBase original, HarmonyMethod prefix = null, HarmonyMethod postfix = null,
                                HarmonyMethod transpiler = null, HarmonyMethod finalizer = null)
        {
            if (original == null)
                throw new NullReferenceException("Null method for " + Id);
            if (prefix != null || transpiler != null || finalizer != null)
                throw new NotSupportedException("the test build of Harmony runs postfixes only");
            if (postfix != null)
            {
                if (postfix.method == null)
                    throw new ArgumentException("postfix: no method found");
                lock (postfixes)
                    postfixes.Add(new KeyValuePair<MethodBase, MethodInfo>(original, postfix.method));
            }
            return original as MethodInfo;
        }

        /// <summary>The originals patched so far (test hook).</summary>
        internal static MethodBase[] PatchedOriginals()
        {
            lock (postfixes)
                return postfixes.Select(p => p.Key).Distinct().ToArray();
        }

        /// <summary>Runs the postfixes recorded for <paramref name="original"/> after a call of it.</summary>
        internal static void RunPostfixes(MethodBase original, object instance, object[] args, ref object result)
        {
            List<MethodInfo> run;
            lock (postfixes)
                run = postfixes.Where(p => p.Key.MethodHandle == original.MethodHandle).Select(p => p.Value).ToList();
            ParameterInfo[] originalParams = original.GetParameters();
            foreach (MethodInfo post in run)
            {
                ParameterInfo[] ps = post.GetParameters();
                var values = new object[ps.Length];
                int resultIndex = -1;
                for (int i = 0; i < ps.Length; i++)
                {
                    if (ps[i].Name == "__result")
                    {
                        values[i] = result;
                        resultIndex = i;
                    }
                    else if (ps[i].Name == "__instance")
                    {
                        values[i] = instance;
                    }
                    else
                    {
                        int j = Array.FindIndex(originalParams, op => op.Name == ps[i].Name);
                        if (j < 0)
                            throw new ArgumentException("Parameter \"" + ps[i].Name + "\" not found in method " + original);
                        values[i] = args[j];
                    }
                }
                post.Invoke(null, values);
                if (resultIndex >= 0 && ps[resultIndex].ParameterType.IsByRef)
                    result = values[resultIndex];
            }
        }
    }

    public static class AccessTools
    {
        public static BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance
                                         | BindingFlags.Static | BindingFlags.GetField | BindingFlags.SetField
                                         | BindingFlags.GetProperty | BindingFlags.SetProperty;

        /// <summary>A method by name (and, to tell overloads apart, by parameter types); null when none matches.</summary>
        public static MethodInfo Method(Type type, string name, Type[] parameters = null, Type[] generics = null)
        {
            if (type == null || name == null)
                return null;
            for (Type t = type; t != null; t = t.BaseType)
            {
                MethodInfo m;
                try
                {
                    m = parameters == null ? t.GetMethod(name, all | BindingFlags.DeclaredOnly)
                                           : t.GetMethod(name, all | BindingFlags.DeclaredOnly, null, parameters, null);
                }
                catch (AmbiguousMatchException)
                {
                    m = null;
                }
                if (m != null)
                    return generics != null ? m.MakeGenericMethod(generics) : m;
            }
            return null;
        }
    }

    public class HarmonyMethod
    {
        public MethodInfo method;
        public Type declaringType;
        public string methodName;
        public Type[] argumentTypes;

        public HarmonyMethod() { }

        public HarmonyMethod(MethodInfo method)
        {
            this.method = method;
            declaringType = method == null ? null : method.DeclaringType;
            methodName = method == null ? null : method.Name;
        }

        public HarmonyMethod(Type methodType, string methodName, Type[] argumentTypes = null)
            : this(AccessTools.Method(methodType, methodName, argumentTypes))
        {
            this.argumentTypes = argumentTypes;
        }
    }
}
