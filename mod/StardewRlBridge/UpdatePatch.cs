using HarmonyLib;
using Microsoft.Xna.Framework;
using StardewModdingAPI;
using StardewValley.Menus;

namespace StardewRlBridge
{
    /// <summary>
    /// Tells whether BobberBar.update ran in this game update (a Harmony postfix; it writes no game state).
    /// SMAPI raises UpdateTicking/UpdateTicked on every frame, also those in which the game itself is paused
    /// (the window inactive with "Pause when game window is inactive", Game1.paused, an overlay) and the
    /// minigame does not move. A state sent then repeated the last one under a new tick, counted a bar tick the
    /// game never ran, and logged a CSV row whose press was never applied.
    /// </summary>
    internal static class UpdatePatch
    {
        /// <summary>Cleared before each update (UpdateTicking), set when BobberBar.update has run.</summary>
        public static bool Ran;

        /// <summary>Patches BobberBar.update(GameTime), looked up with its parameter types; false (and one error
        /// logged) if this game has no such method.</summary>
        public static bool Apply(string harmonyId, IMonitor monitor)
        {
            var original = AccessTools.Method(typeof(BobberBar), nameof(BobberBar.update), new[] { typeof(GameTime) });
            if (original == null)
            {
                monitor.Log("This game has no BobberBar.update(GameTime) (the mod follows Stardew Valley 1.6): " +
                            "the mod cannot tell a paused game from a running one and sends no states.", LogLevel.Error);
                return false;
            }
            new Harmony(harmonyId).Patch(original: original, postfix: new HarmonyMethod(typeof(UpdatePatch), nameof(Postfix)));
            return true;
        }

        private static void Postfix()
        {
            Ran = true;
        }
    }
}
