using StardewModdingAPI;

namespace StardewRlBridge
{
    /// <summary>config.json (SMAPI writes the defaults on first run).</summary>
    public sealed class ModConfig
    {
        /// <summary>"bridge": stream states to the agent and apply its press; "observe": stream states, never
        /// touch input (record a person playing); "onnx": run the ONNX policy in-process, no socket.</summary>
        public string Mode { get; set; } = "bridge";

        /// <summary>TCP port on 127.0.0.1 the bridge listens on.</summary>
        public int Port { get; set; } = Protocol.DefaultPort;

        /// <summary>ONNX model for "onnx" mode, relative to the mod folder; reloaded when the file changes.</summary>
        public string ModelPath { get; set; } = "assets/policy.onnx";

        /// <summary>If set (relative to the mod folder), every minigame tick is appended to this CSV in the seed's
        /// 8-column format, one minigame at a time (the press logged is the one the game applied).</summary>
        public string RecordCsv { get; set; } = "";

        /// <summary>The stop switch: pauses the agent ("bridge") or the ONNX policy ("onnx") so the player fishes
        /// with their own input; pressed again, gives the controls back. States keep streaming, with
        /// "agent_paused": true and the press the player made.</summary>
        public SButton ToggleKey { get; set; } = SButton.F10;
    }
}
