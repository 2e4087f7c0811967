// Reference stub of SMAPI.Toolkit.CoreInterfaces.dll (SMAPI 4.0.3): IManifest, the members the stardew-rl mod
// and the test host use. Follows Pathoschild/SMAPI, src/SMAPI.Toolkit.CoreInterfaces/IManifest.cs, tag 4.0.3.
namespace StardewModdingAPI
{
    /// <summary>A manifest which describes a mod for SMAPI.</summary>
    public interface IManifest
    {
        string Name { get; }
        string Description { get; }
        string Author { get; }
        string UniqueID { get; }
        string EntryDll { get; }
        string[] UpdateKeys { get; }
    }
}
