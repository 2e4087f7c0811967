using System.Collections.Generic;
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

        /// <summary>Replaces every missing or unusable value (a <c>null</c> in config.json, an unknown mode, a port
        /// out of range, an unknown key) by its default, once, when the mod starts, and says what it replaced, one
        /// message per value. Without it a <c>null</c> string threw on every tick.</summary>
        public List<string> Normalise()
        {
            var fixes = new List<string>();
            var defaults = new ModConfig();
            string mode = Mode == null ? null : Mode.Trim().ToLowerInvariant();
            if (mode != "bridge" && mode != "observe" && mode != "onnx")
            {
                fixes.Add("config.json: Mode " + Shown(Mode) + " is not bridge, observe or onnx; using " + defaults.Mode + ".");
                mode = defaults.Mode;
            }
            Mode = mode;
            if (Port < 0 || Port > 65535)
            {
                fixes.Add("config.json: Port " + Port + " is not a TCP port (0-65535); using " + defaults.Port + ".");
                Port = defaults.Port;
            }
            if (string.IsNullOrWhiteSpace(ModelPath))
            {
                fixes.Add("config.json: ModelPath " + Shown(ModelPath) + " names no file; using " + defaults.ModelPath + ".");
                ModelPath = defaults.ModelPath;
            }
            if (RecordCsv == null)
            {
                fixes.Add("config.json: RecordCsv is null; recording nothing (set a file name such as replayMemory.csv to record).");
                RecordCsv = "";
            }
            if (!System.Enum.IsDefined(typeof(SButton), ToggleKey) || ToggleKey == SButton.None)
            {
                fixes.Add("config.json: ToggleKey " + ToggleKey + " is not a button; using " + defaults.ToggleKey + ".");
                ToggleKey = defaults.ToggleKey;
            }
            return fixes;
        }

        private static string Shown(string value) => value == null ? "null" : "'" + value + "'";
    }
}
