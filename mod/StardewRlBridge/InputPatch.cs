using HarmonyLib;
using Microsoft.Xna.Framework.Input;
using StardewModdingAPI;
using StardewValley;

namespace StardewRlBridge
{
    /// <summary>
    /// The only way the mod acts on the game: a Harmony postfix on Game1.isOneOfTheseKeysDown that answers
    /// "is the use-tool button down?" with the agent's press while a minigame is active. BobberBar.update reads
    /// its buttonPressed through this call; no game state is written.
    /// BobberBar (1.6) reads the left mouse button first and the gamepad's X/A after the keyboard:
    /// <c>buttonPressed = mouse left held || isOneOfTheseKeysDown(keyboard, useToolButton) || (gamepad on &amp;&amp; X or A held)</c>.
    /// So a player holding the left mouse button (or, with gamepad controls on, X or A) makes the bar rise whatever the
    /// agent answers: the agent's release cannot override a held button, only its press adds one. The state messages
    /// show it: <c>buttonPressed</c> true while <c>applied_press</c> is false.
    /// </summary>
    internal static class InputPatch
    {
        /// <summary>Set before each update (UpdateTicking): override the use-tool button in this update.</summary>
        public static volatile bool Active;

        /// <summary>The press to report while Active.</summary>
        public static volatile bool Down;

        /// <summary>Patches Game1.isOneOfTheseKeysDown(KeyboardState, InputButton[]), looked up with its parameter
        /// types; false (and one error logged) if this game has no such method.</summary>
        public static bool Apply(string harmonyId, IMonitor monitor)
        {
            var original = AccessTools.Method(typeof(Game1), nameof(Game1.isOneOfTheseKeysDown),
                                              new[] { typeof(KeyboardState), typeof(InputButton[]) });
            if (original == null)
            {
                monitor.Log("This game has no Game1.isOneOfTheseKeysDown(KeyboardState, InputButton[]) (the mod follows " +
                            "Stardew Valley 1.6): the agent's presses cannot reach the game; states still stream.",
                            LogLevel.Error);
                return false;
            }
            new Harmony(harmonyId).Patch(original: original, postfix: new HarmonyMethod(typeof(InputPatch), nameof(Postfix)));
            return true;
        }

        // signature of the original: static bool isOneOfTheseKeysDown(KeyboardState state, InputButton[] keys)
        private static void Postfix(InputButton[] keys, ref bool __result)
        {
            if (Active && Game1.options != null && ReferenceEquals(keys, Game1.options.useToolButton))
                __result = Down;
        }
    }
}
