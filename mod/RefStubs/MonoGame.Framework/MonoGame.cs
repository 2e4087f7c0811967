// Reference stub of MonoGame.Framework.dll: only the members the stardew-rl mod (and the stubs of the game) use.
// Follows MonoGame/MonoGame, MonoGame.Framework/GameTime.cs, MonoGame.Framework/Input/Keys.cs and
// MonoGame.Framework/Input/KeyboardState.cs, MonoGame.Framework/Input/MouseState.cs and
// MonoGame.Framework/Input/ButtonState.cs, version 3.8 (Stardew Valley 1.6 ships MonoGame 3.8).
// Written for the tests; the bodies are small working versions, not the real code.
using System;
using System.Collections.Generic;

namespace Microsoft.Xna.Framework
{
    /// <summary>Snapshot of the game timing state (MonoGame: class GameTime).</summary>
    public class GameTime
    {
        public TimeSpan TotalGameTime { get; set; }
        public TimeSpan ElapsedGameTime { get; set; }
        public bool IsRunningSlowly { get; set; }

        public GameTime() { }

        public GameTime(TimeSpan totalGameTime, TimeSpan elapsedGameTime)
        {
            TotalGameTime = totalGameTime;
            ElapsedGameTime = elapsedGameTime;
        }
    }
}

namespace Microsoft.Xna.Framework.Input
{
    /// <summary>Keyboard keys (MonoGame: enum Keys; values as in XNA). Only the keys named here are listed.</summary>
    public enum Keys
    {
        None = 0,
        Escape = 27,
        Space = 32,
        C = 67,
        E = 69,
        X = 88,
        F9 = 120,
        F10 = 121,
        F11 = 122,
    }

    /// <summary>The keys held at one moment (MonoGame: struct KeyboardState).</summary>
    public struct KeyboardState
    {
        private readonly HashSet<Keys> down;

        public KeyboardState(params Keys[] keys)
        {
            down = new HashSet<Keys>(keys ?? new Keys[0]);
        }

        public bool IsKeyDown(Keys key) { return down != null && down.Contains(key); }

        public bool IsKeyUp(Keys key) { return !IsKeyDown(key); }

        public Keys[] GetPressedKeys()
        {
            var keys = new Keys[down == null ? 0 : down.Count];
            if (down != null)
                down.CopyTo(keys);
            return keys;
        }
    }

    /// <summary>Defines a button state (MonoGame: enum ButtonState).</summary>
    public enum ButtonState
    {
        Released = 0,
        Pressed = 1,
    }

    /// <summary>The mouse at one moment (MonoGame: struct MouseState; the position and wheel are left out).</summary>
    public struct MouseState
    {
        public ButtonState LeftButton { get; private set; }

        public MouseState(int x, int y, int scrollWheel, ButtonState leftButton, ButtonState middleButton,
                          ButtonState rightButton, ButtonState xButton1, ButtonState xButton2)
            : this()
        {
            LeftButton = leftButton;
        }
    }
}
