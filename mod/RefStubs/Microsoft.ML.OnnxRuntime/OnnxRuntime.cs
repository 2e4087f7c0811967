// Reference stub of Microsoft.ML.OnnxRuntime.dll (NuGet Microsoft.ML.OnnxRuntime 1.16.3, the version the mod's
// csproj pins): the members the stardew-rl mod uses. Follows microsoft/onnxruntime, tag v1.16.3, folder
// csharp/src/Microsoft.ML.OnnxRuntime/: InferenceSession.shared.cs (InferenceSession(byte[], SessionOptions),
// InputMetadata, OutputMetadata, ModelMetadata, Run), SessionOptions.shared.cs (LogSeverityLevel, IntraOpNumThreads,
// InterOpNumThreads, AppendExecutionProvider_CPU), OrtLoggingLevel.shared.cs, NamedOnnxValue.shared.cs,
// DisposableNamedOnnxValue.shared.cs, and Tensors/Tensor.shared.cs (TensorBase, Tensor<T>: Length, GetValue, its
// IReadOnlyList<T>), Tensors/DenseTensor.shared.cs.
// Written for the tests: it compiles the mod; it runs no model (a session throws NotSupportedException).
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Microsoft.ML.OnnxRuntime
{
    public enum OrtLoggingLevel
    {
        ORT_LOGGING_LEVEL_VERBOSE = 0,
        ORT_LOGGING_LEVEL_INFO = 1,
        ORT_LOGGING_LEVEL_WARNING = 2,
        ORT_LOGGING_LEVEL_ERROR = 3,
        ORT_LOGGING_LEVEL_FATAL = 4,
    }

    public class SessionOptions : SafeHandle
    {
        public SessionOptions() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid => handle == IntPtr.Zero;

        public OrtLoggingLevel LogSeverityLevel { get; set; } = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING;

        public int IntraOpNumThreads { get; set; }

        public int InterOpNumThreads { get; set; }

        public void AppendExecutionProvider_CPU(int useArena = 1) { }

        protected override bool ReleaseHandle() { return true; }
    }

    public class NodeMetadata
    {
        internal NodeMetadata() { }

        public int[] Dimensions { get; internal set; }
        public Type ElementType { get; internal set; }
        public bool IsTensor { get; internal set; }
    }

    public class ModelMetadata
    {
        internal ModelMetadata() { }

        public Dictionary<string, string> CustomMetadataMap { get; internal set; }
    }

    public interface IDisposableReadOnlyCollection<T> : IReadOnlyCollection<T>, IReadOnlyList<T>, IDisposable
    {
    }

    public class NamedOnnxValue
    {
        protected object _value;
        protected string _name;

        protected NamedOnnxValue(string name, object value)
        {
            _name = name;
            _value = value;
        }

        public string Name { get { return _name; } set { _name = value; } }

        public object Value { get { return _value; } set { _value = value; } }

        public static NamedOnnxValue CreateFromTensor<T>(string name, Tensor<T> value)
        {
            return new NamedOnnxValue(name, value);
        }

        public Tensor<T> AsTensor<T>() { return _value as Tensor<T>; }
    }

    public class DisposableNamedOnnxValue : NamedOnnxValue, IDisposable
    {
        internal DisposableNamedOnnxValue(string name, object value) : base(name, value) { }

        public void Dispose() { }
    }

    public class InferenceSession : IDisposable
    {
        public InferenceSession(byte[] model, SessionOptions options)
        {
            throw new NotSupportedException("the reference build of ONNX Runtime runs no model");
        }

        public IReadOnlyDictionary<string, NodeMetadata> InputMetadata { get; private set; }

        public IReadOnlyDictionary<string, NodeMetadata> OutputMetadata { get; private set; }

        public ModelMetadata ModelMetadata { get; private set; }

        public IDisposableReadOnlyCollection<DisposableNamedOnnxValue> Run(IReadOnlyCollection<NamedOnnxValue> inputs)
        {
            throw new NotSupportedException("the reference build of ONNX Runtime runs no model");
        }

        public void Dispose() { }
    }
}

namespace Microsoft.ML.OnnxRuntime.Tensors
{
    public class TensorBase
    {
        protected TensorBase(Type primitiveType) { }
    }

    /// <summary>Has no ToArray of its own: <c>tensor.ToArray()</c> is LINQ's, through IEnumerable&lt;T&gt;.</summary>
    public abstract class Tensor<T> : TensorBase, IReadOnlyList<T>
    {
        private readonly long length;

        protected Tensor(ReadOnlySpan<int> dimensions, bool reverseStride) : base(typeof(T))
        {
            long size = 1;
            for (int i = 0; i < dimensions.Length; i++)
                size *= dimensions[i];
            length = size;
        }

        public long Length => length;

        public abstract T GetValue(int index);

        int IReadOnlyCollection<T>.Count => (int)Length;

        T IReadOnlyList<T>.this[int index] => GetValue(index);

        IEnumerator<T> IEnumerable<T>.GetEnumerator()
        {
            for (int i = 0; i < Length; i++)
                yield return GetValue(i);
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator()
        {
            return ((IEnumerable<T>)this).GetEnumerator();
        }
    }

    public class DenseTensor<T> : Tensor<T>
    {
        private readonly Memory<T> memory;

        public DenseTensor(Memory<T> memory, ReadOnlySpan<int> dimensions, bool reverseStride = false)
            : base(dimensions, reverseStride)
        {
            this.memory = memory;
        }

        public Memory<T> Buffer => memory;

        public override T GetValue(int index) { return memory.Span[index]; }
    }
}
