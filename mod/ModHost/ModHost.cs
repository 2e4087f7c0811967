// A stand-in for SMAPI and the game, for the tests (tests/mod/test_host.py): it loads the compiled mod
// (StardewRlBridge.dll, built against the reference assemblies in mod/RefStubs) against the BEHAVIOUR builds of
// those stubs, and plays scripted fishing minigames with it.
//
// Each tick runs in SMAPI 4's order (Pathoschild/SMAPI src/SMAPI/Framework/SCore.cs, OnPlayerInstanceUpdating):
// the tick counter advances, input events (ButtonPressed), MenuChanged for a menu change the last update made,
// UpdateTicking, the game's update (BobberBar.update, unless the script pauses the game), UpdateTicked, and
// OneSecondUpdateTicked on every 60th tick. The mod's Harmony postfixes run through the test build of Harmony.
//
// The host is in lock-step with the agent: before each tick that follows a state the mod sent (except an end
// state), it waits for the agent's action answering that state, so every press has exactly one tick it must reach.
//
//   mono ModHost.exe --mod DIR [--fish ID=Name/difficulty/motion/min/max]... [--game FISH:LEVEL[:PAUSE_AT:PAUSE_TICKS]]...
//                    [--seed N] [--toggle-at TICK] [--mouse FROM:COUNT]
//
// --mouse holds the left mouse button down in the first minigame's updates FROM+1 .. FROM+COUNT (the player's own
// hand on the mouse). DIR holds StardewRlBridge.dll and config.json. With no --game it runs some idle ticks (no agent needed) and ends. Output, one line each: "LISTENING port" (bridge and observe modes),
// "LOG level message" for every mod log line, "UPDATE tick=T bar_tick=B pressed=0|1 progress=P mouse=0|1" after every
// BobberBar.update, "PAUSED tick=T" for a paused tick in a minigame, "HUD text" for a HUD message, and "DONE
// minigames=N ticks=T". Exit status 0 when the script ran to its end, 1 with "ERROR ..." otherwise.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Reflection;
using Microsoft.Xna.Framework;
using Microsoft.Xna.Framework.Input;
using StardewModdingAPI;
using StardewModdingAPI.Events;
using StardewModdingAPI.Framework;
using StardewRlBridge;
using StardewValley;
using StardewValley.Menus;
using StardewValley.Tools;

namespace ModHost
{
    internal sealed class HostMonitor : IMonitor
    {
        private readonly HashSet<string> once = new HashSet<string>();

        public bool IsVerbose => false;

        public void Log(string message, LogLevel level = LogLevel.Trace)
        {
            Program.Out("LOG " + level + " " + message.Replace('\n', ' '));
        }

        public void LogOnce(string message, LogLevel level = LogLevel.Trace)
        {
            if (once.Add(message))
                Log(message, level);
        }

        public void VerboseLog(string message) { }
    }

    internal sealed class HostManifest : IManifest
    {
        public string Name => "stardew-rl bridge";
        public string Description => "";
        public string Author => "stardew-rl";
        public string UniqueID => "stardewrl.Bridge";
        public string EntryDll => "StardewRlBridge.dll";
        public string[] UpdateKeys => new string[0];
    }

    internal sealed class HostEvents : IModEvents, IDisplayEvents, IGameLoopEvents, IInputEvents
    {
        public IDisplayEvents Display => this;
        public IGameLoopEvents GameLoop => this;
        public IInputEvents Input => this;

        public event EventHandler<MenuChangedEventArgs> MenuChanged;
        public event EventHandler<UpdateTickingEventArgs> UpdateTicking;
        public event EventHandler<UpdateTickedEventArgs> UpdateTicked;
        public event EventHandler<OneSecondUpdateTickedEventArgs> OneSecondUpdateTicked;
        public event EventHandler<ReturnedToTitleEventArgs> ReturnedToTitle;
        public event EventHandler<ButtonPressedEventArgs> ButtonPressed;

        public void RaiseMenuChanged(IClickableMenu oldMenu, IClickableMenu newMenu)
        {
            MenuChanged?.Invoke(null, new MenuChangedEventArgs(oldMenu, newMenu));
        }

        public void RaiseUpdateTicking() { UpdateTicking?.Invoke(null, new UpdateTickingEventArgs()); }

        public void RaiseUpdateTicked() { UpdateTicked?.Invoke(null, new UpdateTickedEventArgs()); }

        public void RaiseOneSecondUpdateTicked() { OneSecondUpdateTicked?.Invoke(null, new OneSecondUpdateTickedEventArgs()); }

        public void RaiseReturnedToTitle() { ReturnedToTitle?.Invoke(null, new ReturnedToTitleEventArgs()); }

        public void RaiseButtonPressed(SButton button) { ButtonPressed?.Invoke(null, new ButtonPressedEventArgs(button)); }
    }

    internal sealed class HostHelper : IModHelper
    {
        private readonly HostEvents events;

        public HostHelper(string directory, HostEvents events)
        {
            DirectoryPath = directory;
            this.events = events;
        }

        public string DirectoryPath { get; }

        public IModEvents Events => events;

        /// <summary>config.json read as SMAPI's Json.NET reads it: properties by name, case-insensitively; a JSON
        /// null sets null; an enum from its name; a missing file gives the defaults.</summary>
        public TConfig ReadConfig<TConfig>() where TConfig : class, new()
        {
            var config = new TConfig();
            string path = Path.Combine(DirectoryPath, "config.json");
            if (!File.Exists(path))
                return config;
            var doc = (Dictionary<string, object>)new JsonReader(File.ReadAllText(path)).ReadDocument();
            foreach (var kv in doc)
            {
                PropertyInfo p = typeof(TConfig).GetProperty(kv.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
                if (p == null)
                    continue;
                object v = kv.Value;
                if (v != null && p.PropertyType.IsEnum)
                    v = Enum.Parse(p.PropertyType, (string)v, true);
                else if (v != null && p.PropertyType != typeof(string))
                    v = Convert.ChangeType(v, p.PropertyType, CultureInfo.InvariantCulture);
                p.SetValue(config, v);
            }
            return config;
        }

        public void WriteConfig<TConfig>(TConfig config) where TConfig : class, new() { }
    }

    internal sealed class Game
    {
        public string Fish;
        public int Level;
        public int PauseAt = -1;   // bar tick after which the game pauses
        public int PauseTicks;
    }

    internal static class Program
    {
        private static readonly object outLock = new object();

        public static void Out(string line)
        {
            lock (outLock)
            {
                Console.Out.WriteLine(line);
                Console.Out.Flush();
            }
        }

        private static int Main(string[] args)
        {
            try
            {
                return Run(args);
            }
            catch (Exception e)
            {
                Out("ERROR " + e.GetType().Name + ": " + e.Message.Replace('\n', ' ') + " " + e.StackTrace.Replace('\n', ' '));
                return 1;
            }
        }

        private static int Run(string[] args)
        {
            string modDir = null;
            int seed = 1;
            long toggleAt = -1;
            int mouseFrom = -1, mouseCount = 0;
            var games = new List<Game>();
            for (int i = 0; i < args.Length; i++)
            {
                string a = args[i];
                string v = i + 1 < args.Length ? args[i + 1] : null;
                switch (a)
                {
                    case "--mod": modDir = v; i++; break;
                    case "--seed": seed = int.Parse(v, CultureInfo.InvariantCulture); i++; break;
                    case "--toggle-at": toggleAt = long.Parse(v, CultureInfo.InvariantCulture); i++; break;
                    case "--mouse":
                        mouseFrom = int.Parse(v.Split(':')[0], CultureInfo.InvariantCulture);
                        mouseCount = int.Parse(v.Split(':')[1], CultureInfo.InvariantCulture);
                        i++;
                        break;
                    case "--fish":
                        int eq = v.IndexOf('=');
                        Game1.fishData[v.Substring(0, eq)] = v.Substring(eq + 1);
                        i++;
                        break;
                    case "--game":
                        string[] f = v.Split(':');
                        var g = new Game { Fish = f[0], Level = int.Parse(f[1], CultureInfo.InvariantCulture) };
                        if (f.Length >= 4)
                        {
                            g.PauseAt = int.Parse(f[2], CultureInfo.InvariantCulture);
                            g.PauseTicks = int.Parse(f[3], CultureInfo.InvariantCulture);
                        }
                        games.Add(g);
                        i++;
                        break;
                    default:
                        throw new ArgumentException("unknown argument " + a);
                }
            }
            if (modDir == null)
                throw new ArgumentException("--mod DIR is required");

            Game1.random = new Random(seed);
            Game1.options = new Options();
            Game1.oldKBState = new KeyboardState();
            Game1.player = new Farmer { CurrentTool = new FishingRod() };

            // load the mod as SMAPI does: its assembly from its folder, the Mod subclass, helper/monitor/manifest set
            Assembly assembly = Assembly.LoadFrom(Path.Combine(modDir, "StardewRlBridge.dll"));
            Type entryType = null;
            foreach (Type t in assembly.GetExportedTypes())
                if (typeof(Mod).IsAssignableFrom(t) && !t.IsAbstract)
                    entryType = t;
            if (entryType == null)
                throw new InvalidOperationException("no Mod subclass in StardewRlBridge.dll");
            var mod = (Mod)Activator.CreateInstance(entryType);
            var events = new HostEvents();
            var helper = new HostHelper(modDir, events);
            mod.Helper = helper;
            mod.Monitor = new HostMonitor();
            mod.ModManifest = new HostManifest();
            mod.Entry(helper);
            foreach (MethodBase m in HarmonyLib.Harmony.PatchedOriginals())
                Out("PATCHED " + m.DeclaringType.Name + "." + m.Name);

            // onnx mode: ask the resolver the mod registered where it finds ONNX Runtime's native library
            foreach (var kv in System.Runtime.InteropServices.NativeLibrary.resolvers)
            {
                IntPtr handle = kv.Value("onnxruntime", kv.Key, null);
                Out("NATIVE " + kv.Key.GetName().Name + " " + (handle == IntPtr.Zero ? "not-found" : "loaded"));
            }

            var server = (BridgeServer)entryType.GetField("server", BindingFlags.NonPublic | BindingFlags.Instance).GetValue(mod);
            if (server != null)
            {
                Out("LISTENING " + server.Port);
                if (games.Count > 0 && !server.WaitForConnection(60000))
                    throw new TimeoutException("no agent connected within 60 s");
            }

            long ticks = 0;
            int next = 0;              // the next scripted minigame
            int countdown = 30;        // ticks until the next fish bites
            int played = 0;
            IClickableMenu announced = null;  // the menu SMAPI last told the mods about
            long awaitTick = -1;       // a state was sent at this tick: its answer is due before the next update
            bool endSent = false;
            int barTicks = 0;
            int pausedLeft = 0;
            Game current = null;
            var gameTime = new GameTime(TimeSpan.Zero, TimeSpan.FromMilliseconds(1000.0 / 60.0));
            const long maxTicks = 200000;
            while (ticks < maxTicks)
            {
                ticks++;
                SCore.TicksElapsed = (uint)ticks;
                if (awaitTick >= 0 && server != null)
                {
                    if (!server.WaitForAction(awaitTick, 20000))
                        throw new TimeoutException("no action answered the state of tick " + awaitTick);
                    awaitTick = -1;
                }
                // input events, then the menu change the last update made, then the update tick
                if (ticks == toggleAt)
                    events.RaiseButtonPressed(SButton.F10);
                if (!ReferenceEquals(Game1.activeClickableMenu, announced))
                {
                    IClickableMenu was = announced;
                    announced = Game1.activeClickableMenu;
                    events.RaiseMenuChanged(was, announced);
                }
                events.RaiseUpdateTicking();

                var bar = Game1.activeClickableMenu as BobberBar;
                bool paused = false;
                if (bar != null && current != null && current.PauseAt >= 0 && barTicks == current.PauseAt && pausedLeft == 0 && current.PauseTicks > 0)
                {
                    pausedLeft = current.PauseTicks;
                    current.PauseAt = -1; // once
                }
                if (pausedLeft > 0)
                {
                    paused = true;
                    pausedLeft--;
                    Out("PAUSED tick=" + ticks);
                }
                else if (bar != null)
                {
                    bool mouse = played == 0 && barTicks >= mouseFrom && barTicks < mouseFrom + mouseCount;
                    Game1.oldMouseState = new MouseState(0, 0, 0, mouse ? ButtonState.Pressed : ButtonState.Released,
                                                         ButtonState.Released, ButtonState.Released, ButtonState.Released,
                                                         ButtonState.Released);
                    bar.update(gameTime);
                    barTicks++;
                    Out(string.Format(CultureInfo.InvariantCulture, "UPDATE tick={0} bar_tick={1} pressed={2} progress={3:R} mouse={4}",
                                      ticks, barTicks, bar.buttonPressed ? 1 : 0, bar.distanceFromCatching, mouse ? 1 : 0));
                    bool stillOpen = ReferenceEquals(Game1.activeClickableMenu, bar);
                    if (stillOpen && ReferenceEquals(announced, bar) && !endSent)
                    {
                        if (bar.distanceFromCatching <= 0f || bar.distanceFromCatching >= 1f)
                            endSent = true;  // the end state: the agent does not answer it
                        else
                            awaitTick = ticks;
                    }
                    if (!stillOpen)
                    {
                        played++;
                        current = null;
                        countdown = 30;
                    }
                }
                else if (!paused && Game1.activeClickableMenu == null)
                {
                    if (next < games.Count && --countdown <= 0)
                    {
                        current = games[next++];
                        Game1.player.fishingLevel = current.Level;
                        Game1.activeClickableMenu = new BobberBar("(O)" + current.Fish, 0.5f, false, new List<string>(), null, false);
                        endSent = false;
                        barTicks = 0;
                    }
                    else if (next >= games.Count && countdown-- < -5)
                    {
                        break;
                    }
                }
                events.RaiseUpdateTicked();
                if (ticks % 60 == 0)
                    events.RaiseOneSecondUpdateTicked();
                foreach (HUDMessage message in Game1.hudMessages)
                    Out("HUD " + message.message);
                Game1.hudMessages.Clear();
            }
            if (ticks >= maxTicks)
                throw new TimeoutException("the script did not end within " + maxTicks + " ticks");
            mod.Dispose();
            Out("DONE minigames=" + played + " ticks=" + ticks);
            return 0;
        }
    }
}
