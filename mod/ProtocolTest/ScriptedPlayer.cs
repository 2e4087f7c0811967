// A scripted fishing minigame on the game side of the bridge, for testing Protocol.cs for real.
//
// Build and run (what tests/mod/test_csharp_protocol.py does):
//   mcs -out:ScriptedPlayer.exe mod/StardewRlBridge/Protocol.cs mod/ProtocolTest/ScriptedPlayer.cs
//   mono ScriptedPlayer.exe [port (0: any free port)] [minigames (default 2)] [lockstep|realtime]
//
// It plays the role the SMAPI mod plays in the game: listens on 127.0.0.1, says hello, and streams one
// state per tick of a simplified BobberBar (fade-in, the bar's gravity and bounce, a fish on a
// deterministic path, the catch meter). In lock-step (default) each tick waits for the action echoing
// the previous state's tick and applies its press; in real time it ticks at 60 Hz like the game and
// applies the latest press received (held), as the mod does. It starts a minigame when the agent
// sends "reset".
// Prints "LISTENING <port>" first and "DONE ..." at the end; exit code 0 when every minigame ended
// and every action echoed the tick it answered, 1 otherwise.

using System;
using StardewRlBridge;

static class ScriptedPlayer
{
    const int BarTrack = 568;

    static int Main(string[] args)
    {
        int port = args.Length > 0 ? int.Parse(args[0]) : 0;
        int minigames = args.Length > 1 ? int.Parse(args[1]) : 2;
        bool realtime = args.Length > 2 && args[2] == "realtime";
        var server = new BridgeServer(port, "ScriptedPlayer (mono)", "1.5.4", "1.5", realtime ? "realtime" : "lockstep", 60.0,
                                      s => Console.Error.WriteLine(s));
        server.Start();
        Console.WriteLine("LISTENING " + server.Port);
        Console.Out.Flush();
        if (!server.WaitForConnection(20000))
        {
            Console.WriteLine("FAIL no agent connected");
            return 1;
        }
        long tick = 1000;
        int caught = 0, escaped = 0, totalTicks = 0, heldTicks = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double nextMs = 0;
        for (int m = 1; m <= minigames; m++)
        {
            long? seed;
            if (!server.WaitForReset(20000, out seed))
            {
                Console.WriteLine("FAIL no reset request for minigame " + m);
                return 1;
            }
            var game = new Minigame(m, seed ?? m);
            server.ReleasePress();
            nextMs = clock.Elapsed.TotalMilliseconds;
            while (true)
            {
                tick++;
                if (!server.Send(game.State(tick)))
                {
                    Console.WriteLine("FAIL agent lost at tick " + tick);
                    return 1;
                }
                if (game.Phase == "caught" || game.Phase == "escaped")
                    break;
                if (realtime)
                {
                    // the game never waits: sleep to the next 60 Hz tick, then apply whatever press is held
                    nextMs = Math.Max(nextMs + 1000.0 / 60.0, clock.Elapsed.TotalMilliseconds - 250);
                    int sleep = (int)(nextMs - clock.Elapsed.TotalMilliseconds);
                    if (sleep > 0) System.Threading.Thread.Sleep(sleep);
                    if (!server.Connected)
                    {
                        Console.WriteLine("FAIL agent lost at tick " + tick);
                        return 1;
                    }
                    bool held;
                    long heldTick = server.GetAction(out held);
                    if (heldTick != tick) heldTicks++;
                    game.Update(held, heldTick);
                    totalTicks++;
                    continue;
                }
                if (!server.WaitForAction(tick, 10000))
                {
                    Console.WriteLine("FAIL no action answering tick " + tick);
                    return 1;
                }
                bool press;
                long answered = server.GetAction(out press);
                if (answered != tick)
                {
                    Console.WriteLine("FAIL action echoed tick " + answered + ", expected " + tick);
                    return 1;
                }
                game.Update(press, answered);
                totalTicks++;
                if (game.BarTick > 20000)
                {
                    Console.WriteLine("FAIL minigame " + m + " did not end");
                    return 1;
                }
            }
            if (game.Phase == "caught") caught++; else escaped++;
        }
        // let the agent say bye (or give up after a while) so it is not cut off mid-message
        for (int i = 0; i < 50 && server.Connected && !server.ByeReceived; i++)
            System.Threading.Thread.Sleep(20);
        Console.WriteLine("DONE minigames=" + minigames + " caught=" + caught + " escaped=" + escaped + " ticks=" + totalTicks
                          + " actions=" + server.ActionsReceived + " held_ticks=" + heldTicks);
        server.Dispose();
        return 0;
    }

    /// <summary>A simplified BobberBar: enough of the game to play, not the game's exact rules.</summary>
    sealed class Minigame
    {
        public readonly int Id;
        public int BarTick;
        public string Phase = "fade-in";
        float scale;
        float barPos, barSpeed, fishPos, lastFishPos, progress = 0.3f;
        readonly int height;
        readonly int level;
        readonly float phaseShift;
        bool inBar, pressed, perfect = true;
        long appliedTick = -1;
        bool appliedPress;

        public Minigame(int id, long seed)
        {
            Id = id;
            level = (int)(seed % 11);
            height = 96 + 8 * level;
            barPos = BarTrack - height;
            fishPos = lastFishPos = 508f;
            phaseShift = (seed % 7) * 0.9f;
        }

        public void Update(bool press, long tick)
        {
            appliedTick = tick;
            appliedPress = press;
            BarTick++;
            if (Phase == "fade-in")
            {
                scale = Math.Min(1f, scale + 0.05f);
                if (scale >= 1f) Phase = "playing";
                return;
            }
            pressed = press;
            lastFishPos = fishPos;
            fishPos = 266f + 200f * (float)Math.Sin(BarTick / 45.0 + phaseShift);
            inBar = fishPos + 12f <= barPos - 32f + height && fishPos - 16f >= barPos - 32f;
            float grav = press ? -0.25f : 0.25f;
            if (inBar) grav *= 0.6f;
            barSpeed += grav;
            barPos += barSpeed;
            if (barPos + height > BarTrack) { barPos = BarTrack - height; barSpeed = -barSpeed * 2f / 3f; }
            else if (barPos < 0f) { barPos = 0f; barSpeed = -barSpeed * 2f / 3f; }
            if (inBar) progress += 0.002f;
            else { progress -= 0.003f; perfect = false; }
            progress = Math.Max(0f, Math.Min(1f, progress));
            if (progress >= 1f) Phase = "caught";
            else if (progress <= 0f) Phase = "escaped";
        }

        public string State(long tick)
        {
            return new JsonWriter()
                .Add("type", "state").Add("tick", tick).Add("minigame", Id).Add("bar_tick", BarTick).Add("phase", Phase)
                .Add("applied_tick", appliedTick).Add("applied_press", appliedPress)
                .Add("bobberBarPos", barPos).Add("bobberBarSpeed", barSpeed).Add("bobberBarHeight", height)
                .Add("bobberPosition", fishPos).Add("lastBobberPosition", lastFishPos)
                .Add("distanceFromCatching", progress).Add("bobberInBar", inBar).Add("buttonPressed", pressed)
                .Add("perfect", perfect).Add("treasure", false).Add("treasurePosition", 0f).Add("treasureCatchLevel", 0f)
                .Add("treasureCaught", false).Add("fadeInScale", scale)
                .Add("fish_id", 145).Add("fish", "Sunfish").Add("difficulty", 30).Add("motion_type", "mixed")
                .Add("fishing_level", level).Add("tackle", new int[0]).Add("fishing_rod", "Bamboo Pole")
                .Add("scripted_by", "mono ScriptedPlayer (an unknown field the agent must ignore)")
                .ToString();
        }
    }
}
