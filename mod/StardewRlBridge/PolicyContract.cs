// The contract of the in-process policy ("onnx" mode): the seed mod's, and the check a model must pass
// before the mod runs it.
//
// Like Protocol.cs this file has NO game or onnxruntime dependency, so the tests build it with Mono's mcs
// (mod/ProtocolTest/PolicyContractCheck.cs) and run it on the interfaces of the shipped models. Keep it to
// C# 7 features both compilers accept.
//
// Why a check at load time: onnxruntime accepts any model, and the mod feeds every model the same three raw
// numbers. A model that reads something else either fails in every Run (60 errors a second in the SMAPI log,
// the button never pressed: exported/autofisher_dqn_rich.onnx, input [N, 32]) or, worse, runs and plays on
// inputs it was never trained on (a model of three *scaled* features, input [N, 3]). Both are refused here
// with a message that says what the model reads and what the mod feeds.

using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace StardewRlBridge
{
    /// <summary>One input or output of a model, as onnxruntime's NodeMetadata describes it (-1: a symbolic dimension).</summary>
    public sealed class ModelPort
    {
        public readonly string Name;
        public readonly bool IsTensor;
        public readonly Type ElementType;
        public readonly int[] Dimensions;

        public ModelPort(string name, bool isTensor, Type elementType, int[] dimensions)
        {
            Name = name;
            IsTensor = isTensor;
            ElementType = elementType;
            Dimensions = dimensions ?? new int[0];
        }
    }

    public static class PolicyContract
    {
        /// <summary>What the mod feeds, in this order: BobberBar's raw fields (agents/dqn/export.py's seed contract).</summary>
        public static readonly string[] SeedFeatures = { "bobberBarPos", "bobberPosition", "bobberBarSpeed" };

        const string Expected = "the mod feeds the seed contract: one float or double tensor of shape [3] or [1, 3] = "
                                + "[bobberBarPos, bobberPosition, bobberBarSpeed] (raw), and reads 2 Q-values (release, hold)";

        /// <summary>
        /// Checks a model's interface and metadata_props against the contract; returns the input shape to feed
        /// ([3] or [1, 3]). Throws InvalidDataException saying what the model reads instead.
        /// </summary>
        public static int[] Check(IList<ModelPort> inputs, IList<ModelPort> outputs, IDictionary<string, string> metadata)
        {
            if (inputs == null || inputs.Count != 1)
                throw Refuse("it has " + (inputs == null ? 0 : inputs.Count) + " inputs");
            ModelPort input = inputs[0];
            if (!IsNumberTensor(input))
                throw Refuse("input '" + input.Name + "' is not a float or double tensor");
            int[] d = input.Dimensions;
            bool flat = d.Length == 1 && d[0] == 3;
            bool batched = d.Length == 2 && (d[0] == 1 || d[0] < 0) && d[1] == 3;
            if (!flat && !batched)
                throw Refuse("input '" + input.Name + "' has shape " + Shape(d) + RichHint(metadata));

            // agents.dqn.export names what the network reads; three numbers of another meaning or scale would run
            // without an error and play blind
            string names;
            if (metadata != null && metadata.TryGetValue("feature_names", out names))
            {
                List<string> got = FeatureNames(names);
                if (got == null)
                    throw Refuse("its metadata 'feature_names' is not a JSON list of strings: " + names);
                if (!SameNames(got, SeedFeatures))
                    throw Refuse("it reads the features [" + string.Join(", ", got.ToArray()) + "] (metadata 'feature_names')"
                                 + RichHint(metadata));
            }
            string stack;
            if (metadata != null && metadata.TryGetValue("frame_stack", out stack) && stack.Trim() != "1")
                throw Refuse("it reads " + stack.Trim() + " ticks at once (metadata 'frame_stack'); the mod feeds one");

            if (outputs == null || outputs.Count == 0)
                throw Refuse("it has no output");
            ModelPort q = outputs[0];
            int[] o = q.Dimensions;
            bool twoValues = (o.Length == 1 && o[0] == 2) || (o.Length == 2 && (o[0] == 1 || o[0] < 0) && o[1] == 2);
            if (!IsNumberTensor(q) || !twoValues)
                throw Refuse("its first output '" + q.Name + "' is " + (IsNumberTensor(q) ? "of shape " + Shape(o) : "not a float or double tensor")
                             + ", not the 2 Q-values");
            return flat ? new[] { 3 } : new[] { 1, 3 };
        }

        static bool IsNumberTensor(ModelPort p)
        {
            return p.IsTensor && (p.ElementType == typeof(double) || p.ElementType == typeof(float));
        }

        static InvalidDataException Refuse(string why)
        {
            return new InvalidDataException("not a policy the mod can run: " + why + "; " + Expected + ".");
        }

        static string RichHint(IDictionary<string, string> metadata)
        {
            string policy;
            if (metadata != null && metadata.TryGetValue("policy_name", out policy) && policy == "dqn_best")
                return " (this is the rich model, exported/autofisher_dqn_rich.onnx: it reads features computed over several "
                       + "ticks, which only the Python env computes; play it through the bridge (Mode \"bridge\") or put "
                       + "exported/autofisher_dqn.onnx here)";
            return "";
        }

        static string Shape(int[] d)
        {
            var sb = new StringBuilder("[");
            for (int i = 0; i < d.Length; i++)
            {
                if (i > 0) sb.Append(", ");
                sb.Append(d[i] < 0 ? "N" : d[i].ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            return sb.Append(']').ToString();
        }

        static List<string> FeatureNames(string json)
        {
            object v;
            try
            {
                v = new JsonReader(json).ReadDocument();
            }
            catch (FormatException)
            {
                return null;
            }
            var list = v as List<object>;
            if (list == null)
                return null;
            var names = new List<string>();
            foreach (object item in list)
            {
                var s = item as string;
                if (s == null)
                    return null;
                names.Add(s);
            }
            return names;
        }

        static bool SameNames(List<string> got, string[] want)
        {
            if (got.Count != want.Length)
                return false;
            for (int i = 0; i < want.Length; i++)
                if (got[i] != want[i])
                    return false;
            return true;
        }
    }
}
