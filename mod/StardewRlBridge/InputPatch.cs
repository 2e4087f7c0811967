using HarmonyLib;
using StardewValley;

namespace StardewRlBridge
{
    /// <summary>
    /// The only way the mod acts on the game: a Harmony postfix on Game1.isOneOfTheseKeysDown that answers
    /// "is the use-tool button down?" with the agent's press while a minigame is active. BobberBar.update reads
    /// its buttonPressed through this call; no game state is written. (A mouse button the player physically
    /// holds still counts as a press: BobberBar checks the mouse separately.)
    /// </summary>
    internal static class InputPatch
    {
        /// <summary>Set before each update (UpdateTicking): override the use-tool button in this update.</summary>
        public static volatile bool Active;

        /// <summary>The press to report while Active.</summary>
        public static volatile bool Down;

        public static void Apply(string harmonyId)
        {
            var harmony = new Harmony(harmonyId);
            harmony.Patch(
                original: AccessTools.Method(typeof(Game1), nameof(Game1.isOneOfTheseKeysDown)),
                postfix: new HarmonyMethod(typeof(InputPatch), nameof(Postfix)));
        }

        // signature of the original: static bool isOneOfTheseKeysDown(KeyboardState state, InputButton[] keys)
        private static void Postfix(InputButton[] keys, ref bool __result)
        {
            if (Active && Game1.options != null && ReferenceEquals(keys, Game1.options.useToolButton))
                __result = Down;
        }
    }
}
