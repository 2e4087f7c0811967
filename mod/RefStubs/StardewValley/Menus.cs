// Reference stub of "Stardew Valley.dll" (game 1.6), namespace StardewValley.Menus: IClickableMenu and BobberBar,
// every public field the stardew-rl mod reads, with the type 1.6 gives it. Follows the public 1.6 decompile
// Dannode36/StardewValleyDecompiled, "Stardew Valley/StardewValley.Menus/BobberBar.cs" and
// "Stardew Valley/StardewValley.Menus/IClickableMenu.cs". BobberBar.update here is written for the tests: it plays
// the game's fish motion, bar physics and catch meter (no treasure, no sounds, no tackle but the bobbers list) and
// reads the use-tool button the way 1.6 does: the left mouse button first, then Game1.isOneOfTheseKeysDown on the
// keyboard, then the gamepad. It is not the game's code.
using System;
using System.Collections.Generic;
using Microsoft.Xna.Framework;
using Microsoft.Xna.Framework.Input;

namespace StardewValley.Menus
{
    public abstract class IClickableMenu
    {
        public int xPositionOnScreen;
        public int yPositionOnScreen;
        public int width;
        public int height;

        public IClickableMenu() { }

        public IClickableMenu(int x, int y, int width, int height, bool showUpperRightCloseButton = false)
        {
            xPositionOnScreen = x;
            yPositionOnScreen = y;
            this.width = width;
            this.height = height;
        }

        public virtual void update(GameTime time) { }
    }

    public class BobberBar : IClickableMenu
    {
        public const int bobberTrackHeight = 548;
        public const int bobberBarTrackHeight = 568;
        public const int mixed = 0;
        public const int dart = 1;
        public const int smooth = 2;
        public const int sink = 3;
        public const int floater = 4;

        public bool handledFishResult;
        public float difficulty;
        public int motionType;
        public string whichFish;
        public float distanceFromCatchPenaltyModifier = 1f;
        public string setFlagOnCatch;
        public float bobberPosition = 548f;
        public float bobberSpeed;
        public float bobberAcceleration;
        public float bobberTargetPosition;
        public float scale;
        public float everythingShakeTimer;
        public float floaterSinkerAcceleration;
        public float treasurePosition;
        public float treasureCatchLevel;
        public float treasureAppearTimer;
        public float treasureScale;
        public bool bobberInBar;
        public bool buttonPressed;
        public bool flipBubble;
        public bool fadeIn;
        public bool fadeOut;
        public bool treasure;
        public bool treasureCaught;
        public bool perfect;
        public bool bossFish;
        public bool beginnersRod;
        public bool fromFishPond;
        public bool goldenTreasure;
        public int bobberBarHeight;
        public int fishSize;
        public int fishQuality;
        public int minFishSize;
        public int maxFishSize;
        public int fishSizeReductionTimer;
        public int challengeBaitFishes = -1;
        public List<string> bobbers;
        public float reelRotation;
        public float bobberBarPos;
        public float bobberBarSpeed;
        public float distanceFromCatching = 0.3f;

        public BobberBar(string whichFish, float fishSize, bool treasure, List<string> bobbers, string setFlagOnCatch,
                         bool isBossFish, string baitID = "", bool goldenTreasure = false)
            : base(0, 0, 96, 636)
        {
            this.bobbers = bobbers;
            this.setFlagOnCatch = setFlagOnCatch;
            this.treasure = treasure;
            this.goldenTreasure = goldenTreasure;
            this.whichFish = whichFish;
            bossFish = isBossFish;
            fadeIn = true;
            scale = 0f;
            treasureAppearTimer = Game1.random.Next(1000, 3000);
            bobberBarHeight = 96 + Game1.player.FishingLevel * 8;
#if BEHAVIOUR
            string bare = whichFish.StartsWith("(O)") ? whichFish.Substring(3) : whichFish;
            string data;
            if (Game1.fishData.TryGetValue(bare, out data))
            {
                string[] fields = data.Split('/');
                difficulty = Convert.ToInt32(fields[1]);
                switch (fields[2].ToLower())
                {
                    case "mixed": motionType = mixed; break;
                    case "dart": motionType = dart; break;
                    case "smooth": motionType = smooth; break;
                    case "floater": motionType = floater; break;
                    case "sinker": motionType = sink; break;
                }
                minFishSize = Convert.ToInt32(fields[3]);
                maxFishSize = Convert.ToInt32(fields[4]);
                this.fishSize = (int)(minFishSize + (maxFishSize - minFishSize) * fishSize) + 1;
                perfect = true;
            }
#endif
            bobberBarHeight += bobbers.FindAll(b => b == "(O)695").Count * 24;
            bobberBarPos = 568 - bobberBarHeight;
            bobberPosition = 508f;
            bobberTargetPosition = (100f - difficulty) / 100f * 548f;
        }

        public override void update(GameTime time)
        {
            Update(time);
#if BEHAVIOUR
            object none = null;
            HarmonyLib.Harmony.RunPostfixes(System.Reflection.MethodBase.GetCurrentMethod(), this, new object[] { time }, ref none);
#endif
        }

        private void Update(GameTime time)
        {
            if (fadeIn)
            {
                scale += 0.05f;
                if (scale >= 1f)
                {
                    scale = 1f;
                    fadeIn = false;
                }
                return;
            }
            if (fadeOut)
            {
                scale -= 0.05f;
                if (scale <= 0f)
                {
                    scale = 0f;
                    fadeOut = false;
                    Game1.exitActiveMenu();
                }
                return;
            }
            MoveFish();
            bobberInBar = bobberPosition + 12f <= bobberBarPos - 32f + bobberBarHeight && bobberPosition - 16f >= bobberBarPos - 32f;
            if (bobberPosition >= 548 - bobberBarHeight && bobberBarPos >= 568 - bobberBarHeight - 4)
                bobberInBar = true;
            // the order 1.6 reads the use-tool button in: the mouse first (a held left button wins and the keyboard
            // route is not even asked), then the keyboard binding, then the gamepad
            buttonPressed = Game1.oldMouseState.LeftButton == ButtonState.Pressed
                            || Game1.isOneOfTheseKeysDown(Game1.oldKBState, Game1.options.useToolButton)
                            || (Game1.options.gamepadControls && Game1.padUseToolHeld);
            float gravity = buttonPressed ? -0.25f : 0.25f;
            if (buttonPressed && gravity < 0f && (bobberBarPos == 0f || bobberBarPos == 568 - bobberBarHeight))
                bobberBarSpeed = 0f;
            if (bobberInBar)
                gravity *= bobbers.Contains("(O)691") ? 0.3f : 0.6f;
            bobberBarSpeed += gravity;
            bobberBarPos += bobberBarSpeed;
            if (bobberBarPos + bobberBarHeight > 568f)
            {
                bobberBarPos = 568 - bobberBarHeight;
                bobberBarSpeed = -bobberBarSpeed * 2f / 3f;
            }
            else if (bobberBarPos < 0f)
            {
                bobberBarPos = 0f;
                bobberBarSpeed = -bobberBarSpeed * 2f / 3f;
            }
            if (bobberInBar)
            {
                distanceFromCatching += 0.002f;
            }
            else
            {
                perfect = false;
                distanceFromCatching -= (beginnersRod ? 0.002f : 0.003f) * distanceFromCatchPenaltyModifier;
            }
            distanceFromCatching = Math.Max(0f, Math.Min(1f, distanceFromCatching));
            if (distanceFromCatching <= 0f || distanceFromCatching >= 1f)
                fadeOut = true;
        }

        private void MoveFish()
        {
            Random r = Game1.random;
            if (r.NextDouble() < difficulty * (motionType == smooth ? 20 : 1) / 4000f
                && (motionType != smooth || bobberTargetPosition == -1f))
            {
                float spaceBelow = 548f - bobberPosition;
                float spaceAbove = bobberPosition;
                float percent = Math.Min(99f, difficulty + r.Next(10, 45)) / 100f;
                bobberTargetPosition = bobberPosition + r.Next((int)Math.Min(-spaceAbove, spaceBelow), (int)spaceBelow) * percent;
            }
            if (motionType == floater)
                floaterSinkerAcceleration = Math.Max(floaterSinkerAcceleration - 0.01f, -1.5f);
            else if (motionType == sink)
                floaterSinkerAcceleration = Math.Min(floaterSinkerAcceleration + 0.01f, 1.5f);
            if (Math.Abs(bobberPosition - bobberTargetPosition) > 3f && bobberTargetPosition != -1f)
            {
                bobberAcceleration = (bobberTargetPosition - bobberPosition) / (r.Next(10, 30) + (100f - Math.Min(100f, difficulty)));
                bobberSpeed += (bobberAcceleration - bobberSpeed) / 5f;
            }
            else if (motionType != smooth && r.NextDouble() < difficulty / 2000f)
            {
                bobberTargetPosition = bobberPosition + (r.Next(2) == 0 ? r.Next(-100, -51) : r.Next(50, 101));
            }
            else
            {
                bobberTargetPosition = -1f;
            }
            if (motionType == dart && r.NextDouble() < difficulty / 1000f)
                bobberTargetPosition = bobberPosition + (r.Next(2) == 0 ? r.Next(-100 - (int)difficulty * 2, -51) : r.Next(50, 101 + (int)difficulty * 2));
            bobberTargetPosition = Math.Max(-1f, Math.Min(bobberTargetPosition, 548f));
            bobberPosition += bobberSpeed + floaterSinkerAcceleration;
            if (bobberPosition > 532f)
                bobberPosition = 532f;
            else if (bobberPosition < 0f)
                bobberPosition = 0f;
        }
    }
}
