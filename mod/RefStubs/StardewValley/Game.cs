// Reference stub of "Stardew Valley.dll" (game 1.6): only the members the stardew-rl mod uses, with their real
// names, types and visibility. Follows the public 1.6 decompile Dannode36/StardewValleyDecompiled, folder
// "Stardew Valley/StardewValley/": Game1.cs (isOneOfTheseKeysDown, options, player, activeClickableMenu, version,
// addHUDMessage, random, oldKBState, oldMouseState, exitActiveMenu), Options.cs (useToolButton, gamepadControls), InputButton.cs, Farmer.cs
// (FishingLevel, CurrentTool), Item.cs (DisplayName), Tool.cs, HUDMessage.cs (error_type, HUDMessage(string, int)),
// ItemRegistry.cs (GetDataOrErrorItem) and StardewValley.ItemTypeDefinitions/ParsedItemData.cs (DisplayName).
// Written for the tests: the bodies are small working versions, not the game's code. The BEHAVIOUR build (the test
// host's) adds hooks for the host and runs the postfixes recorded by the test build of Harmony after
// isOneOfTheseKeysDown and BobberBar.update, standing in for Harmony's rewriting of those methods.
using System;
using System.Collections.Generic;
using Microsoft.Xna.Framework.Input;
using StardewValley.ItemTypeDefinitions;
using StardewValley.Menus;

#if BEHAVIOUR
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("ModHost")]
#endif

namespace StardewValley
{
    public class InstanceGame
    {
    }

    public class Game1 : InstanceGame
    {
        /// <summary>The game version, e.g. "1.6.15" (a static readonly field set when the game starts).</summary>
        public static readonly string version = "1.6.15";

        public static Random random = new Random();

        public static KeyboardState oldKBState;

        public static MouseState oldMouseState;

        /// <summary>Stands for the gamepad's X or A button held (the real game reads Game1.oldPadState).</summary>
        internal static bool padUseToolHeld;

        private static Farmer _player;
        private static IClickableMenu _activeClickableMenu;
        private static Options _options;
        public static List<HUDMessage> hudMessages = new List<HUDMessage>();
#if BEHAVIOUR
        /// <summary>The test host's Data/Fish: id -> "name/difficulty/motion/minSize/maxSize/...".</summary>
        internal static readonly Dictionary<string, string> fishData = new Dictionary<string, string>();
#endif

        public static Farmer player
        {
            get { return _player; }
            set { _player = value; }
        }

        public static IClickableMenu activeClickableMenu
        {
            get { return _activeClickableMenu; }
            set { _activeClickableMenu = value; }
        }

        public static Options options
        {
            get { return _options; }
            set { _options = value; }
        }

        /// <summary>Whether a key bound to one of <paramref name="keys"/> is down in <paramref name="state"/>
        /// (mouse bindings are not keys: BobberBar reads the mouse itself).</summary>
        public static bool isOneOfTheseKeysDown(KeyboardState state, InputButton[] keys)
        {
            bool down = false;
            for (int i = 0; i < keys.Length && !down; i++)
            {
                InputButton k = keys[i];
                if (k.key != Keys.None && state.IsKeyDown(k.key))
                    down = true;
            }
#if BEHAVIOUR
            // the Harmony postfixes patched onto this method run after it, as Harmony's rewritten method would
            object result = down;
            HarmonyLib.Harmony.RunPostfixes(System.Reflection.MethodBase.GetCurrentMethod(), null, new object[] { state, keys }, ref result);
            down = (bool)result;
#endif
            return down;
        }

        public static void addHUDMessage(HUDMessage message)
        {
            hudMessages.Add(message);
        }

        public static void exitActiveMenu()
        {
            _activeClickableMenu = null;
        }
    }

    public class Options
    {
        public bool gamepadControls;

        public InputButton[] useToolButton = new InputButton[2]
        {
            new InputButton(Keys.C),
            new InputButton(mouseLeft: true)
        };
    }

    public struct InputButton
    {
        public Keys key;
        public bool mouseLeft;
        public bool mouseRight;

        public InputButton(Keys key)
        {
            this.key = key;
            mouseLeft = false;
            mouseRight = false;
        }

        public InputButton(bool mouseLeft)
        {
            key = Keys.None;
            this.mouseLeft = mouseLeft;
            mouseRight = !mouseLeft;
        }
    }

    public class Character
    {
    }

    public class Farmer : Character, IComparable
    {
        internal int fishingLevel;
        private Tool currentTool;

        public int FishingLevel => Math.Max(fishingLevel, 0);

        public Tool CurrentTool
        {
            get { return currentTool; }
            set { currentTool = value; }
        }

        public int CompareTo(object obj) { return 0; }
    }

    public abstract class Item : IComparable
    {
        public abstract string DisplayName { get; }

        public int CompareTo(object other) { return 0; }
    }

    public abstract class Tool : Item
    {
        internal string displayName = "";

        public override string DisplayName => displayName;
    }

    public class HUDMessage
    {
        public const int achievement_type = 1;
        public const int newQuest_type = 2;
        public const int error_type = 3;
        public const int stamina_type = 4;
        public const int health_type = 5;
        public const int screenshot_type = 6;

        public string message;
        public int whatType;

        public HUDMessage(string message)
        {
            this.message = message;
        }

        public HUDMessage(string message, int whatType)
        {
            this.message = message;
            this.whatType = whatType;
        }
    }

    public static class ItemRegistry
    {
        /// <summary>The parsed data of an item id ("(O)128", "128", "Goby"), or the error item for an unknown id.</summary>
        public static ParsedItemData GetDataOrErrorItem(string itemId)
        {
            string name = "Error Item";
#if BEHAVIOUR
            string bare = itemId != null && itemId.StartsWith("(O)") ? itemId.Substring(3) : itemId;
            string data;
            if (bare != null && Game1.fishData.TryGetValue(bare, out data))
                name = data.Split('/')[0];
#endif
            return new ParsedItemData(name);
        }
    }
}

namespace StardewValley.ItemTypeDefinitions
{
    public class ParsedItemData
    {
        public readonly string DisplayName;

        internal ParsedItemData(string displayName)
        {
            DisplayName = displayName;
        }
    }
}

namespace StardewValley.Tools
{
    public class FishingRod : Tool
    {
        public FishingRod() { displayName = "Fishing Rod"; }
    }
}
