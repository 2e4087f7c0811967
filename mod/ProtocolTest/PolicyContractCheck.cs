// Runs the mod's model check (mod/StardewRlBridge/PolicyContract.cs) on a model interface, for the tests.
//
// Build and run (what tests/mod/test_policy_contract.py does):
//   mcs -out:PolicyContractCheck.exe mod/StardewRlBridge/Protocol.cs mod/StardewRlBridge/PolicyContract.cs \
//       mod/ProtocolTest/PolicyContractCheck.cs
//   mono PolicyContractCheck.exe interface.json
//
// interface.json describes a model as onnxruntime reports it (the mod reads the same from the C# API's
// InputMetadata, OutputMetadata and ModelMetadata.CustomMetadataMap):
//   {"inputs": [{"name": "0", "tensor": true, "type": "double", "shape": [3]}], "outputs": [...],
//    "metadata": {"feature_names": "[...]", ...}}      shape: -1 for a symbolic dimension
// Prints "ACCEPTED <shape the mod feeds>" or "REFUSED <the message the mod logs>"; exit code 0 either way,
// 2 when the file cannot be read.

using System;
using System.Collections.Generic;
using System.IO;
using StardewRlBridge;

static class PolicyContractCheck
{
    static int Main(string[] args)
    {
        Dictionary<string, object> doc;
        try
        {
            doc = (Dictionary<string, object>)new JsonReader(File.ReadAllText(args[0])).ReadDocument();
        }
        catch (Exception e)
        {
            Console.WriteLine("USAGE PolicyContractCheck.exe interface.json (" + e.Message + ")");
            return 2;
        }
        var metadata = new Dictionary<string, string>();
        foreach (var kv in (Dictionary<string, object>)doc["metadata"])
            metadata[kv.Key] = (string)kv.Value;
        try
        {
            int[] shape = PolicyContract.Check(Ports(doc["inputs"]), Ports(doc["outputs"]), metadata);
            Console.WriteLine("ACCEPTED [" + string.Join(", ", Array.ConvertAll(shape, d => d.ToString())) + "]");
        }
        catch (InvalidDataException e)
        {
            Console.WriteLine("REFUSED " + e.Message);
        }
        return 0;
    }

    static List<ModelPort> Ports(object list)
    {
        var ports = new List<ModelPort>();
        foreach (Dictionary<string, object> p in (List<object>)list)
        {
            var dims = new List<int>();
            foreach (object d in (List<object>)p["shape"])
                dims.Add((int)(long)d);
            ports.Add(new ModelPort((string)p["name"], (bool)p["tensor"], ElementType((string)p["type"]), dims.ToArray()));
        }
        return ports;
    }

    // onnxruntime's element type names, as the C# API's NodeMetadata.ElementType gives them
    static Type ElementType(string name)
    {
        switch (name)
        {
            case "double": return typeof(double);
            case "float": return typeof(float);
            case "int64": return typeof(long);
            case "int32": return typeof(int);
            case "string": return typeof(string);
            default: return typeof(object);
        }
    }
}
