// A game side that sends "waiting" states from its main thread as fast as it can, whoever is connected: the
// mod's game thread at its most demanding, for testing that agents can come and go (tests/mod/test_csharp_protocol.py).
//
//   mcs -out:FloodingGame.exe mod/StardewRlBridge/Protocol.cs mod/ProtocolTest/FloodingGame.cs
//   mono FloodingGame.exe seconds
//
// Prints "LISTENING <port>" first; exits after `seconds`.

using System;
using System.Diagnostics;
using StardewRlBridge;

static class FloodingGame
{
    static int Main(string[] args)
    {
        double seconds = double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
        var server = new BridgeServer(0, "FloodingGame (mono)", "1.6.15", "1.6", "realtime", 60.0, s => Console.Error.WriteLine(s));
        server.Start();
        Console.WriteLine("LISTENING " + server.Port);
        Console.Out.Flush();
        var clock = Stopwatch.StartNew();
        long tick = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            tick++;
            if (!server.Send(new JsonWriter().Add("type", "state").Add("tick", tick).Add("minigame", 0).Add("bar_tick", 0)
                                             .Add("phase", "waiting").ToString()))
                System.Threading.Thread.Sleep(0);
        }
        server.Dispose();
        return 0;
    }
}
