using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using StardewModdingAPI;

namespace StardewRlBridge
{
    /// <summary>
    /// The in-process policy (the seed mod's feature): an exported ONNX Q-network, input the seed's raw
    /// [bobberBarPos, bobberPosition, bobberBarSpeed] (double or float, shape [3] or [1,3]), output 2 Q-values;
    /// hold when Q[1] > Q[0]. The model file is reloaded when it changes (checked once a second); a model that
    /// fails to load, or reads anything but those three numbers (PolicyContract), leaves the previous one in use.
    /// Every session and every result collection is disposed: the previous session when a new one loads, a failed
    /// one at once, the results of each Run after reading them, and the last session when the mod is disposed.
    /// </summary>
    internal sealed class OnnxPolicy : IDisposable
    {
        private readonly string path;
        private readonly IMonitor monitor;
        private InferenceSession session;
        private string inputName;
        private int[] inputShape;
        private bool inputIsDouble;
        private DateTime loadedStamp = DateTime.MinValue;

        public OnnxPolicy(string path, IMonitor monitor)
        {
            this.path = path;
            this.monitor = monitor;
            ReloadIfChanged();
        }

        public bool Ready => session != null;

        public void ReloadIfChanged()
        {
            if (!File.Exists(path))
            {
                if (session == null)
                    monitor.LogOnce($"No model at {path} yet; the policy acts once one is there.", LogLevel.Warn);
                return;
            }
            DateTime stamp = File.GetLastWriteTimeUtc(path);
            if (stamp == loadedStamp)
                return;
            InferenceSession fresh = null;
            try
            {
                // one intra-op and one inter-op thread: these models are a few small matrix products, which a
                // thread pool sized to the CPU only slows down (and it would compete with the game's own threads);
                // the options are released once the session is built
                using (var options = new SessionOptions
                {
                    LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
                    IntraOpNumThreads = 1,
                    InterOpNumThreads = 1,
                })
                {
                    options.AppendExecutionProvider_CPU(1);
                    fresh = new InferenceSession(File.ReadAllBytes(path), options);
                }
                int[] shape = PolicyContract.Check(Ports(fresh.InputMetadata), Ports(fresh.OutputMetadata),
                                                   fresh.ModelMetadata.CustomMetadataMap);
                var input = fresh.InputMetadata.First();
                inputName = input.Key;
                inputIsDouble = input.Value.ElementType == typeof(double);
                inputShape = shape;
                var old = session;
                session = fresh;
                fresh = null;
                old?.Dispose();
                loadedStamp = stamp;
                monitor.Log($"Loaded policy {path} (input '{inputName}', {(inputIsDouble ? "double" : "float")}).", LogLevel.Info);
            }
            catch (Exception e)
            {
                fresh?.Dispose();
                loadedStamp = stamp; // do not retry a broken file every second; a new write retries
                monitor.Log($"Could not load {path}: {e.Message} " +
                            (session != null ? "Keeping the previous policy." : "No policy runs until a valid model is written there."),
                            LogLevel.Error);
            }
        }

        private static List<ModelPort> Ports(IReadOnlyDictionary<string, NodeMetadata> nodes)
        {
            var ports = new List<ModelPort>();
            foreach (var kv in nodes)
                ports.Add(new ModelPort(kv.Key, kv.Value.IsTensor, kv.Value.ElementType, kv.Value.Dimensions));
            return ports;
        }

        /// <summary>True to hold the button.</summary>
        public bool Act(float barPos, float fishPos, float barSpeed)
        {
            if (session == null)
                return false;
            NamedOnnxValue input = inputIsDouble
                ? NamedOnnxValue.CreateFromTensor(inputName, new DenseTensor<double>(new double[] { barPos, fishPos, barSpeed }, inputShape))
                : NamedOnnxValue.CreateFromTensor(inputName, new DenseTensor<float>(new[] { barPos, fishPos, barSpeed }, inputShape));
            double q0, q1;
            try
            {
                using (var results = session.Run(new[] { input }))
                {
                    var first = results.First();
                    if (first.Value is Tensor<double> td)
                    {
                        var a = td.ToArray();
                        q0 = a[0]; q1 = a[1];
                    }
                    else
                    {
                        var a = first.AsTensor<float>().ToArray();
                        q0 = a[0]; q1 = a[1];
                    }
                }
            }
            catch (Exception e)
            {
                // a model that fails once fails every tick: stop it (one log line, not 60 a second) until the
                // file is written again
                monitor.Log($"The policy {path} failed: {e.Message}; it is stopped until the file changes.", LogLevel.Error);
                session.Dispose();
                session = null;
                return false;
            }
            return q1 > q0;
        }

        public void Dispose() => session?.Dispose();
    }
}
