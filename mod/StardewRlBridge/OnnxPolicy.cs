using System;
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
    /// fails to load leaves the previous one in use.
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
            try
            {
                var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
                options.AppendExecutionProvider_CPU(1);
                var fresh = new InferenceSession(File.ReadAllBytes(path), options);
                var input = fresh.InputMetadata.First();
                inputName = input.Key;
                inputIsDouble = input.Value.ElementType == typeof(double);
                inputShape = input.Value.Dimensions.Length == 2 ? new[] { 1, 3 } : new[] { 3 };
                var old = session;
                session = fresh;
                old?.Dispose();
                loadedStamp = stamp;
                monitor.Log($"Loaded policy {path} (input '{inputName}', {(inputIsDouble ? "double" : "float")}).", LogLevel.Info);
            }
            catch (Exception e)
            {
                loadedStamp = stamp; // do not retry a broken file every second; a new write retries
                monitor.Log($"Could not load {path}: {e.Message}; keeping the previous policy.", LogLevel.Error);
            }
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
            return q1 > q0;
        }

        public void Dispose() => session?.Dispose();
    }
}
