// Reference stub of StardewModdingAPI.dll (SMAPI 4.0.3): the members the stardew-rl mod uses, with their real
// names, types and visibility (internal setters and constructors stay internal). Follows Pathoschild/SMAPI, tag
// 4.0.3: src/SMAPI/Mod.cs, IMod.cs, IModHelper.cs, IMonitor.cs, LogLevel.cs, SButton.cs, Framework/SCore.cs
// (TicksElapsed), Events/IModEvents.cs, IDisplayEvents.cs, IGameLoopEvents.cs, IInputEvents.cs,
// MenuChangedEventArgs.cs, UpdateTickingEventArgs.cs, UpdateTickedEventArgs.cs, OneSecondUpdateTickedEventArgs.cs,
// ReturnedToTitleEventArgs.cs, ButtonPressedEventArgs.cs. Interfaces list only the members used (an implementation
// in the test host must implement them all). Written for the tests, not SMAPI's code.
using System;
using Microsoft.Xna.Framework.Input;
using StardewModdingAPI.Events;
using StardewValley.Menus;

#if BEHAVIOUR
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("ModHost")]
#endif

namespace StardewModdingAPI
{
    public interface IMod
    {
        IModHelper Helper { get; }
        IMonitor Monitor { get; }
        IManifest ModManifest { get; }
        void Entry(IModHelper helper);
        object GetApi();
    }

    /// <summary>The base class for a mod.</summary>
    public abstract class Mod : IMod, IDisposable
    {
        public IModHelper Helper { get; internal set; }
        public IMonitor Monitor { get; internal set; }
        public IManifest ModManifest { get; internal set; }

        public abstract void Entry(IModHelper helper);

        public virtual object GetApi() { return null; }

        public void Dispose()
        {
            Dispose(true);
            GC.SuppressFinalize(this);
        }

        protected virtual void Dispose(bool disposing) { }
    }

    public interface IModHelper
    {
        string DirectoryPath { get; }
        IModEvents Events { get; }
        TConfig ReadConfig<TConfig>() where TConfig : class, new();
        void WriteConfig<TConfig>(TConfig config) where TConfig : class, new();
    }

    public interface IMonitor
    {
        bool IsVerbose { get; }
        void Log(string message, LogLevel level = LogLevel.Trace);
        void LogOnce(string message, LogLevel level = LogLevel.Trace);
        void VerboseLog(string message);
    }

    public enum LogLevel
    {
        Trace = 0,
        Debug = 1,
        Info = 2,
        Warn = 3,
        Error = 4,
        Alert = 5
    }

    /// <summary>A controller, keyboard or mouse button (values: the keyboard's own Keys values). Only the buttons
    /// the mod's config and tests name are listed.</summary>
    public enum SButton
    {
        None = 0,
        MouseLeft = 1000,
        MouseRight = 1001,
        Escape = Keys.Escape,
        C = Keys.C,
        X = Keys.X,
        F9 = Keys.F9,
        F10 = Keys.F10,
        F11 = Keys.F11,
    }
}

namespace StardewModdingAPI.Framework
{
    /// <summary>SMAPI's core; here only its tick counter, which every tick event's Ticks reads.</summary>
    internal static class SCore
    {
        internal static uint TicksElapsed { get; set; }
    }
}

namespace StardewModdingAPI.Events
{
    public interface IModEvents
    {
        IDisplayEvents Display { get; }
        IGameLoopEvents GameLoop { get; }
        IInputEvents Input { get; }
    }

    public interface IDisplayEvents
    {
        event EventHandler<MenuChangedEventArgs> MenuChanged;
    }

    public interface IGameLoopEvents
    {
        event EventHandler<UpdateTickingEventArgs> UpdateTicking;
        event EventHandler<UpdateTickedEventArgs> UpdateTicked;
        event EventHandler<OneSecondUpdateTickedEventArgs> OneSecondUpdateTicked;
        event EventHandler<ReturnedToTitleEventArgs> ReturnedToTitle;
    }

    public interface IInputEvents
    {
        event EventHandler<ButtonPressedEventArgs> ButtonPressed;
    }

    public class MenuChangedEventArgs : EventArgs
    {
        public IClickableMenu OldMenu { get; }
        public IClickableMenu NewMenu { get; }

        internal MenuChangedEventArgs(IClickableMenu oldMenu, IClickableMenu newMenu)
        {
            OldMenu = oldMenu;
            NewMenu = newMenu;
        }
    }

    public class UpdateTickingEventArgs : EventArgs
    {
        public uint Ticks => Framework.SCore.TicksElapsed;
        public bool IsOneSecond => Ticks % 60 == 0;
        public bool IsMultipleOf(uint number) { return Ticks % number == 0; }
    }

    public class UpdateTickedEventArgs : EventArgs
    {
        public uint Ticks => Framework.SCore.TicksElapsed;
        public bool IsOneSecond => Ticks % 60 == 0;
        public bool IsMultipleOf(uint number) { return Ticks % number == 0; }
    }

    public class OneSecondUpdateTickedEventArgs : EventArgs
    {
        public uint Ticks => Framework.SCore.TicksElapsed;
        public bool IsMultipleOf(uint number) { return Ticks % number == 0; }
    }

    public class ReturnedToTitleEventArgs : EventArgs { }

    public class ButtonPressedEventArgs : EventArgs
    {
        public SButton Button { get; }

        internal ButtonPressedEventArgs(SButton button)
        {
            Button = button;
        }
    }
}
