using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using StardewModdingAPI;
using StardewModdingAPI.Events;
using StardewValley;
using StardewValley.Menus;

namespace StardewRlBridge
{
    /// <summary>
    /// The stardew-rl bridge mod. Each update tick while the fishing minigame (BobberBar) is open:
    ///   UpdateTicking: decide the press for this update (the agent's latest action, or the ONNX policy's
    ///                  decision from the last state) and arm the Harmony input patch;
    ///   (the game runs BobberBar.update, which reads the use-tool button through the patch)
    ///   UpdateTicked:  read BobberBar's fields and send one "state" message (bridge/observe modes), or run the
    ///                  ONNX policy on them (onnx mode).
    /// The game never waits: an action that arrives after an update started applies from the next one.
    /// An update in which the game is paused (BobberBar.update did not run: UpdatePatch) sends and logs nothing.
    /// </summary>
    public sealed class ModEntry : Mod
    {
        private ModConfig config;
        private BridgeServer server;
        private OnnxPolicy policy;

        private BobberBar bar;          // the open minigame, or null
        private int minigame;           // minigames opened since the game started
        private int barTick;            // updates since this BobberBar opened
        private float lastFishPos;
        private bool ended;             // the end state of this minigame was sent
        private long firstStateTick;    // the tick of this minigame's first state: an action answering it or later
                                        // means the agent plays this minigame (it skips one already in flight)
        private long appliedTick = -1;  // the action applied in the current update
        private bool appliedPress;
        private bool policyPress;       // onnx mode: the decision for the next update
        private long lastWaitingTick = -1;
        private long currentTick;       // SMAPI's tick counter, the one every state message carries
        private bool paused;            // the player took the controls back (ToggleKey)
        private readonly List<string> csvRows = new List<string>();
        private float[] prev;           // onnx/CSV: previous [barPos, fishPos, barSpeed]

        public override void Entry(IModHelper helper)
        {
            config = helper.ReadConfig<ModConfig>();
            if (config == null)
            {
                Monitor.Log("config.json could not be read as the mod's settings; using the defaults.", LogLevel.Warn);
                config = new ModConfig();
            }
            foreach (string fix in config.Normalise())
                Monitor.Log(fix, LogLevel.Warn);
            bool inputPatched = config.Mode != "observe" && InputPatch.Apply(ModManifest.UniqueID, Monitor);
            if (config.Mode != "observe" && !inputPatched)
                Monitor.Log("No agent or policy can press the button in this game; the mod only streams states.", LogLevel.Warn);
            if (!UpdatePatch.Apply(ModManifest.UniqueID, Monitor))
                return; // without it every tick would look paused: nothing to stream

            if (config.Mode == "onnx")
            {
                NativeOnnx.Register(typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly, helper.DirectoryPath,
                                    (msg, problem) => Monitor.Log(msg, problem ? LogLevel.Warn : LogLevel.Debug));
                policy = new OnnxPolicy(Path.Combine(helper.DirectoryPath, config.ModelPath), Monitor);
            }
            else
            {
                string rules = Game1.version.StartsWith("1.5") ? "1.5" : "1.6";
                server = new BridgeServer(config.Port, "Stardew Valley", Game1.version, rules, "realtime", 60.0,
                                          msg => Monitor.Log(msg, LogLevel.Debug));
                server.Start();
                Monitor.Log($"Bridge listening on 127.0.0.1:{server.Port} ({config.Mode} mode, game {Game1.version}).", LogLevel.Info);
            }
            helper.Events.Display.MenuChanged += OnMenuChanged;
            helper.Events.GameLoop.UpdateTicking += OnUpdateTicking;
            helper.Events.GameLoop.UpdateTicked += OnUpdateTicked;
            helper.Events.GameLoop.OneSecondUpdateTicked += OnOneSecond;
            helper.Events.Input.ButtonPressed += OnButtonPressed;
            helper.Events.GameLoop.ReturnedToTitle += (s, e) => CloseMinigame();
        }

        // -- minigame lifecycle ------------------------------------------------------------------------
        private void OnMenuChanged(object sender, MenuChangedEventArgs e)
        {
            if (e.NewMenu is BobberBar newBar)
            {
                bar = newBar;
                minigame++;
                barTick = 0;
                ended = false;
                firstStateTick = long.MaxValue;
                lastFishPos = newBar.bobberPosition;
                policyPress = false;
                prev = null;
                csvRows.Clear();
                server?.ReleasePress();
            }
            else if (e.OldMenu is BobberBar)
            {
                CloseMinigame();
            }
        }

        private void CloseMinigame()
        {
            if (bar != null && !ended)
                SendWaiting(currentTick); // closed without a result: the agent ends the episode as truncated
            FlushCsv();
            bar = null;
            InputPatch.Active = false;
        }

        // -- before the update: what press this update sees --------------------------------------------
        private void OnUpdateTicking(object sender, UpdateTickingEventArgs e)
        {
            currentTick = e.Ticks;
            UpdatePatch.Ran = false;
            // after the end state (the fade-out) the player's keyboard is left alone, as before the agent's first answer
            if (bar == null || ended || config.Mode == "observe" || paused)
            {
                InputPatch.Active = false;
                appliedTick = -1; // states say no action was applied: the player's own input ran this update
                appliedPress = false;
                return;
            }
            if (config.Mode == "onnx")
            {
                appliedPress = policyPress;
                appliedTick = (long)e.Ticks - 1;
            }
            else
            {
                appliedTick = server.GetAction(out appliedPress);
                if (!server.Connected)
                    appliedPress = false; // no agent: leave the player's input alone
            }
            InputPatch.Down = appliedPress;
            // bridge: only once the agent has answered a state of this minigame; an agent that connected (or reset)
            // during one skips it, and the player keeps the use-tool key for it
            InputPatch.Active = config.Mode == "onnx" ? policy.Ready : server.Connected && appliedTick >= firstStateTick;
        }

        // -- after the update: read the state --------------------------------------------------------------
        private void OnUpdateTicked(object sender, UpdateTickedEventArgs e)
        {
            if (bar == null || ended || Game1.activeClickableMenu != bar || !UpdatePatch.Ran)
                return;
            float progress = bar.distanceFromCatching;
            if (progress < 0f)
            {
                // BobberBar.emergencyShutDown (the player pressed Escape/E, or the game shut the menu) sets -1 and fades
                // out with no result: the agent's episode ends as a closed minigame (truncated), not as an escape
                // with a meter of -1, and the CSV gets no row out of [0, 1] (one made the whole file unloadable)
                ended = true;
                InputPatch.Active = false;
                SendWaiting(e.Ticks);
                FlushCsv();
                return;
            }
            barTick++;
            if (barTick == 1)
                firstStateTick = e.Ticks;
            float barPos = bar.bobberBarPos;
            float fishPos = bar.bobberPosition;
            float barSpeed = bar.bobberBarSpeed;
            bool fadeIn = bar.fadeIn;
            string phase = progress >= 1f ? "caught" : progress <= 0f ? "escaped" : fadeIn ? "fade-in" : "playing";
            bool pressed = bar.buttonPressed;

            if (config.RecordCsv.Length > 0 && prev != null && phase != "fade-in")
                csvRows.Add(string.Join(",", F(prev[0]), F(prev[1]), F(prev[2]), F(barPos), F(fishPos), F(barSpeed), F(progress),
                                        pressed ? "1" : "0"));
            prev = new[] { barPos, fishPos, barSpeed };

            if (config.Mode == "onnx")
            {
                policyPress = !paused && phase == "playing" && policy.Act(barPos, fishPos, barSpeed);
            }
            else
            {
                var w = new JsonWriter()
                    .Add("type", "state").Add("tick", (long)e.Ticks).Add("minigame", minigame).Add("bar_tick", barTick)
                    .Add("phase", phase).Add("applied_tick", appliedTick).Add("applied_press", appliedPress && InputPatch.Active)
                    .Add("bobberBarPos", barPos).Add("bobberBarSpeed", barSpeed).Add("bobberBarHeight", bar.bobberBarHeight)
                    .Add("bobberPosition", fishPos).Add("lastBobberPosition", lastFishPos)
                    .Add("bobberSpeed", bar.bobberSpeed).Add("bobberTargetPosition", bar.bobberTargetPosition)
                    .Add("floaterSinkerAcceleration", bar.floaterSinkerAcceleration)
                    .Add("distanceFromCatching", progress).Add("bobberInBar", bar.bobberInBar)
                    .Add("buttonPressed", pressed).Add("perfect", bar.perfect)
                    .Add("treasure", bar.treasure).Add("treasurePosition", bar.treasurePosition)
                    .Add("treasureCatchLevel", bar.treasureCatchLevel).Add("treasureCaught", bar.treasureCaught)
                    .Add("treasureAppearTimer", bar.treasureAppearTimer).Add("treasureScale", bar.treasureScale)
                    .Add("fadeInScale", bar.scale)
                    .Add("agent_paused", paused);
                AddFish(w);
                server.Send(w.ToString());
            }
            lastFishPos = fishPos;
            if (phase == "caught" || phase == "escaped")
            {
                ended = true;
                InputPatch.Active = false;
                FlushCsv();
            }
        }

        private void AddFish(JsonWriter w)
        {
            string fishId = bar.whichFish ?? "";
            string name = fishId;
            try
            {
                name = ItemRegistry.GetDataOrErrorItem(fishId).DisplayName;
            }
            catch (Exception)
            {
                // keep the id as the name
            }
            string bare = fishId.StartsWith("(O)") ? fishId.Substring(3) : fishId;
            int motion = bar.motionType;
            string[] motions = { "mixed", "dart", "smooth", "sinker", "floater" };
            var bobbers = bar.bobbers ?? new List<string>();
            var tackle = new List<int>();
            foreach (string b in bobbers)
            {
                string id = b.StartsWith("(O)") ? b.Substring(3) : b;
                if (int.TryParse(id, NumberStyles.Integer, CultureInfo.InvariantCulture, out int t))
                    tackle.Add(t);
            }
            if (int.TryParse(bare, NumberStyles.Integer, CultureInfo.InvariantCulture, out int numericId))
                w.Add("fish_id", numericId);
            else
                w.Add("fish_id", bare); // a fish 1.6 added ("(O)Goby"): its Data/Fish key, as envs/stardew/data names it
            w.Add("fish", name).Add("difficulty", bar.difficulty)
             .Add("motion_type", motion >= 0 && motion < motions.Length ? motions[motion] : "mixed")
             .Add("fishing_level", Game1.player?.FishingLevel ?? 0).Add("tackle", tackle.ToArray())
             .Add("fishing_rod", Game1.player?.CurrentTool?.DisplayName ?? "");
        }

        // -- the stop switch: the player takes the fishing controls back, and gives them back -----------------
        private void OnButtonPressed(object sender, ButtonPressedEventArgs e)
        {
            if (e.Button != config.ToggleKey || config.Mode == "observe")
                return;
            paused = !paused;
            InputPatch.Active = false; // at once, not from the next update
            string text = paused
                ? $"stardew-rl: agent paused, you fish yourself ({config.ToggleKey} gives it the controls back)"
                : $"stardew-rl: agent resumed ({config.ToggleKey} pauses it)";
            Monitor.Log(text, LogLevel.Info);
            Game1.addHUDMessage(new HUDMessage(text, HUDMessage.error_type));
        }

        // -- once a second: heartbeat while waiting, model reload ------------------------------------------
        private void OnOneSecond(object sender, OneSecondUpdateTickedEventArgs e)
        {
            policy?.ReloadIfChanged();
            if (server != null && bar == null)
                SendWaiting(e.Ticks);
        }

        private void SendWaiting(long tick)
        {
            if (server == null || tick == lastWaitingTick)
                return;
            lastWaitingTick = tick;
            server.Send(new JsonWriter().Add("type", "state").Add("tick", tick).Add("minigame", minigame).Add("bar_tick", 0)
                                        .Add("phase", "waiting").ToString());
        }

        // -- helpers -----------------------------------------------------------------------------------------
        private static string F(float v) => v.ToString("R", CultureInfo.InvariantCulture);

        /// <summary>Stops the server and releases the ONNX session when SMAPI disposes the mod.</summary>
        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                server?.Dispose();
                policy?.Dispose();
                server = null;
                policy = null;
            }
            base.Dispose(disposing);
        }

        private void FlushCsv()
        {
            if (config.RecordCsv.Length == 0 || csvRows.Count == 0)
                return;
            try
            {
                string path = Path.Combine(Helper.DirectoryPath, config.RecordCsv);
                var sb = new StringBuilder();
                foreach (string row in csvRows)
                    sb.Append(row).Append('\n');
                using (var stream = new FileStream(path, FileMode.Append, FileAccess.Write))
                {
                    byte[] bytes = Encoding.UTF8.GetBytes(sb.ToString());
                    stream.Write(bytes, 0, bytes.Length);
                    stream.Flush(true);
                }
            }
            catch (Exception e)
            {
                Monitor.Log($"Could not append to {config.RecordCsv}: {e.Message}", LogLevel.Error);
            }
            csvRows.Clear();
        }
    }
}
