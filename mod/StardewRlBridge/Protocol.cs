// The stardew-rl bridge wire protocol, version 1: the game side (see envs/stardew/bridge/protocol.py
// and docs/bridge-protocol.md for the specification).
//
// This file has NO game dependency: it is compiled into the SMAPI mod (.NET 6) and, by the tests,
// with Mono's mcs into mod/ProtocolTest/ScriptedPlayer.exe. Keep it to C# 7 features both accept.
//
// Framing: 4-byte big-endian length, then that many bytes of UTF-8 JSON (one object), at most
// MaxMessageBytes. The game side listens on 127.0.0.1, sends "hello", checks the agent's "hello",
// then sends one "state" per tick; the agent answers each with an "action" echoing the tick.

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace StardewRlBridge
{
    /// <summary>The peer broke the protocol (bad frame, bad JSON, missing field).</summary>
    public class ProtocolException : Exception
    {
        public ProtocolException(string message) : base(message) { }
    }

    /// <summary>The peer speaks another protocol version.</summary>
    public class VersionMismatchException : ProtocolException
    {
        public VersionMismatchException(string message) : base(message) { }
    }

    public static class Protocol
    {
        public const int Version = 1;
        public const int MaxMessageBytes = 65536;
        public const int DefaultPort = 8765;

        /// <summary>Writes one frame (throws ProtocolException if the message is too large).</summary>
        public static void WriteFrame(Stream stream, string json)
        {
            byte[] body = Encoding.UTF8.GetBytes(json);
            if (body.Length > MaxMessageBytes)
                throw new ProtocolException("message of " + body.Length + " bytes exceeds the " + MaxMessageBytes + "-byte limit");
            byte[] frame = new byte[4 + body.Length];
            frame[0] = (byte)(body.Length >> 24);
            frame[1] = (byte)(body.Length >> 16);
            frame[2] = (byte)(body.Length >> 8);
            frame[3] = (byte)body.Length;
            Buffer.BlockCopy(body, 0, frame, 4, body.Length);
            stream.Write(frame, 0, frame.Length);
            stream.Flush();
        }

        /// <summary>Reads one frame's JSON text; null when the peer closed cleanly between frames.</summary>
        public static string ReadFrame(Stream stream)
        {
            byte[] header = new byte[4];
            if (!ReadExactly(stream, header, 4, true))
                return null;
            long n = ((long)header[0] << 24) | ((long)header[1] << 16) | ((long)header[2] << 8) | header[3];
            if (n > MaxMessageBytes)
                throw new ProtocolException("peer announced a " + n + "-byte frame; the limit is " + MaxMessageBytes + " bytes");
            if (n == 0)
                throw new ProtocolException("peer sent an empty frame (length 0)");
            byte[] body = new byte[n];
            ReadExactly(stream, body, (int)n, false);
            try
            {
                return new UTF8Encoding(false, true).GetString(body);
            }
            catch (ArgumentException)
            {
                throw new ProtocolException("frame is not UTF-8");
            }
        }

        static bool ReadExactly(Stream stream, byte[] buffer, int count, bool allowCleanEnd)
        {
            int got = 0;
            while (got < count)
            {
                int r = stream.Read(buffer, got, count - got);
                if (r <= 0)
                {
                    if (got == 0 && allowCleanEnd)
                        return false;
                    throw new IOException("peer closed the connection in the middle of a frame");
                }
                got += r;
            }
            return true;
        }

        /// <summary>Parses a message: a JSON object with a string "type" (else ProtocolException).</summary>
        public static Dictionary<string, object> ParseMessage(string json)
        {
            object value;
            try
            {
                value = new JsonReader(json).ReadDocument();
            }
            catch (FormatException e)
            {
                throw new ProtocolException("frame is not JSON: " + e.Message);
            }
            var obj = value as Dictionary<string, object>;
            if (obj == null)
                throw new ProtocolException("message must be a JSON object");
            object type;
            if (!obj.TryGetValue("type", out type) || !(type is string))
                throw new ProtocolException("message has no string 'type' field");
            return obj;
        }

        public static long RequireLong(Dictionary<string, object> msg, string field)
        {
            return Require<long>(msg, field, "an integer");
        }

        public static bool RequireBool(Dictionary<string, object> msg, string field)
        {
            return Require<bool>(msg, field, "a boolean");
        }

        // A required field of a parsed message, of JSON type T (described as `what` in the error).
        private static T Require<T>(Dictionary<string, object> msg, string field, string what)
        {
            object v;
            if (!msg.TryGetValue(field, out v))
                throw new ProtocolException(msg["type"] + " message lacks the required field '" + field + "'");
            if (v is T)
                return (T)v;
            throw new ProtocolException(msg["type"] + " message: field '" + field + "' must be " + what);
        }

        public static string Hello(string game, string gameVersion, string rules, string mode, double tickHz)
        {
            return new JsonWriter().Add("type", "hello").Add("protocol", Version).Add("role", "game").Add("game", game)
                .Add("game_version", gameVersion).Add("rules", rules).Add("mode", mode).Add("tick_hz", tickHz).ToString();
        }

        public static string Error(string code, string message)
        {
            return new JsonWriter().Add("type", "error").Add("code", code).Add("message", message).ToString();
        }
    }

    /// <summary>Builds one JSON object; floats are written round-trip exact.</summary>
    public sealed class JsonWriter
    {
        readonly StringBuilder sb = new StringBuilder(1024);
        bool first = true;

        public JsonWriter() { sb.Append('{'); }

        JsonWriter Key(string key)
        {
            if (!first) sb.Append(',');
            first = false;
            WriteString(sb, key);
            sb.Append(':');
            return this;
        }

        public JsonWriter Add(string key, string value)
        {
            Key(key);
            if (value == null) sb.Append("null"); else WriteString(sb, value);
            return this;
        }

        public JsonWriter Add(string key, bool value) { Key(key); sb.Append(value ? "true" : "false"); return this; }
        public JsonWriter Add(string key, int value) { Key(key); sb.Append(value.ToString(CultureInfo.InvariantCulture)); return this; }
        public JsonWriter Add(string key, long value) { Key(key); sb.Append(value.ToString(CultureInfo.InvariantCulture)); return this; }

        public JsonWriter Add(string key, float value)
        {
            Key(key);
            // JSON has no NaN/Infinity; the game never holds them in these fields
            if (float.IsNaN(value) || float.IsInfinity(value)) value = 0f;
            sb.Append(value.ToString("R", CultureInfo.InvariantCulture));
            return this;
        }

        public JsonWriter Add(string key, double value)
        {
            Key(key);
            if (double.IsNaN(value) || double.IsInfinity(value)) value = 0.0;
            sb.Append(value.ToString("R", CultureInfo.InvariantCulture));
            return this;
        }

        public JsonWriter Add(string key, int[] values)
        {
            Key(key);
            sb.Append('[');
            for (int i = 0; i < values.Length; i++)
            {
                if (i > 0) sb.Append(',');
                sb.Append(values[i].ToString(CultureInfo.InvariantCulture));
            }
            sb.Append(']');
            return this;
        }

        public override string ToString() { return sb.ToString() + "}"; }

        static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }
    }

    /// <summary>A small strict JSON reader: objects, arrays, strings, numbers (long or double), bools, null.</summary>
    public sealed class JsonReader
    {
        readonly string s;
        int i;
        int depth;

        public JsonReader(string text) { s = text; }

        public object ReadDocument()
        {
            object v = ReadValue();
            SkipWs();
            if (i != s.Length) throw new FormatException("unexpected text after the value at " + i);
            return v;
        }

        void SkipWs()
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        }

        object ReadValue()
        {
            SkipWs();
            if (i >= s.Length) throw new FormatException("unexpected end of text");
            char c = s[i];
            if (c == '{') return ReadObject();
            if (c == '[') return ReadArray();
            if (c == '"') return ReadString();
            if (c == 't') { Expect("true"); return true; }
            if (c == 'f') { Expect("false"); return false; }
            if (c == 'n') { Expect("null"); return null; }
            if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber();
            throw new FormatException("unexpected character '" + c + "' at " + i);
        }

        void Expect(string word)
        {
            if (string.CompareOrdinal(s, i, word, 0, word.Length) != 0) throw new FormatException("bad literal at " + i);
            i += word.Length;
        }

        Dictionary<string, object> ReadObject()
        {
            if (++depth > 32) throw new FormatException("nesting deeper than 32");
            var obj = new Dictionary<string, object>();
            i++;
            SkipWs();
            if (i < s.Length && s[i] == '}') { i++; depth--; return obj; }
            while (true)
            {
                SkipWs();
                if (i >= s.Length || s[i] != '"') throw new FormatException("expected a key at " + i);
                string key = ReadString();
                SkipWs();
                if (i >= s.Length || s[i] != ':') throw new FormatException("expected ':' at " + i);
                i++;
                obj[key] = ReadValue();
                SkipWs();
                if (i >= s.Length) throw new FormatException("unterminated object");
                if (s[i] == ',') { i++; continue; }
                if (s[i] == '}') { i++; depth--; return obj; }
                throw new FormatException("expected ',' or '}' at " + i);
            }
        }

        List<object> ReadArray()
        {
            if (++depth > 32) throw new FormatException("nesting deeper than 32");
            var list = new List<object>();
            i++;
            SkipWs();
            if (i < s.Length && s[i] == ']') { i++; depth--; return list; }
            while (true)
            {
                list.Add(ReadValue());
                SkipWs();
                if (i >= s.Length) throw new FormatException("unterminated array");
                if (s[i] == ',') { i++; continue; }
                if (s[i] == ']') { i++; depth--; return list; }
                throw new FormatException("expected ',' or ']' at " + i);
            }
        }

        string ReadString()
        {
            var sb = new StringBuilder();
            i++;
            while (true)
            {
                if (i >= s.Length) throw new FormatException("unterminated string");
                char c = s[i++];
                if (c == '"') return sb.ToString();
                if (c != '\\') { sb.Append(c); continue; }
                if (i >= s.Length) throw new FormatException("unterminated escape");
                char e = s[i++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (i + 4 > s.Length) throw new FormatException("bad \\u escape");
                        sb.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: throw new FormatException("bad escape \\" + e);
                }
            }
        }

        object ReadNumber()
        {
            int start = i;
            bool integral = true;
            if (s[i] == '-') i++;
            while (i < s.Length)
            {
                char c = s[i];
                if (c >= '0' && c <= '9') { i++; continue; }
                if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') { integral = false; i++; continue; }
                break;
            }
            string text = s.Substring(start, i - start);
            long l;
            if (integral && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l))
                return l;
            double d;
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out d))
                return d;
            throw new FormatException("bad number '" + text + "'");
        }
    }

    /// <summary>
    /// The game side of the bridge: listens on 127.0.0.1, serves one agent at a time on a background
    /// thread (handshake, then reading actions), and sends states from the game thread. The latest
    /// action is held until another arrives: the game reads it every update and never waits, except
    /// through WaitForAction (lock-step test programs).
    /// </summary>
    public sealed class BridgeServer : IDisposable
    {
        readonly TcpListener listener;
        readonly string helloJson;
        readonly Action<string> log;
        readonly object sync = new object();
        Thread thread;
        volatile bool stopping;
        TcpClient client;
        NetworkStream stream;
        bool handshaken;

        long actionTick = -1;
        bool press;
        long actionsReceived;
        bool resetRequested;
        long? resetSeed;
        bool byeReceived;

        public BridgeServer(int port, string game, string gameVersion, string rules, string mode, double tickHz,
                            Action<string> log)
        {
            listener = new TcpListener(IPAddress.Loopback, port);
            helloJson = Protocol.Hello(game, gameVersion, rules, mode, tickHz);
            this.log = log ?? (s => { });
        }

        public int Port { get { return ((IPEndPoint)listener.LocalEndpoint).Port; } }

        public bool Connected { get { lock (sync) return stream != null && handshaken; } }

        public long ActionsReceived { get { lock (sync) return actionsReceived; } }

        public bool ByeReceived { get { lock (sync) return byeReceived; } }

        public void Start()
        {
            listener.Start(1);
            thread = new Thread(Run) { IsBackground = true, Name = "stardew-rl bridge" };
            thread.Start();
        }

        /// <summary>The latest action: its tick (-1: none yet on this connection) and press.</summary>
        public long GetAction(out bool pressed)
        {
            lock (sync)
            {
                pressed = press;
                return actionTick;
            }
        }

        /// <summary>Forget the held press (a new minigame starts released).</summary>
        public void ReleasePress()
        {
            lock (sync) press = false;
        }

        /// <summary>Lock-step: wait until an action answering tick (or a later one) arrives.</summary>
        public bool WaitForAction(long tick, int timeoutMs)
        {
            DateTime end = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            lock (sync)
            {
                while (actionTick < tick)
                {
                    if (stream == null) return false;
                    int left = (int)(end - DateTime.UtcNow).TotalMilliseconds;
                    if (left <= 0) return false;
                    Monitor.Wait(sync, left);
                }
                return true;
            }
        }

        /// <summary>True once per "reset" message received; seed is its seed (null when none).</summary>
        public bool TakeResetRequest(out long? seed)
        {
            lock (sync)
            {
                seed = resetSeed;
                bool r = resetRequested;
                resetRequested = false;
                return r;
            }
        }

        public bool WaitForReset(int timeoutMs, out long? seed)
        {
            DateTime end = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            lock (sync)
            {
                while (!resetRequested)
                {
                    int left = (int)(end - DateTime.UtcNow).TotalMilliseconds;
                    if (left <= 0) { seed = null; return false; }
                    Monitor.Wait(sync, left);
                }
                resetRequested = false;
                seed = resetSeed;
                return true;
            }
        }

        public bool WaitForConnection(int timeoutMs)
        {
            DateTime end = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            lock (sync)
            {
                while (!(stream != null && handshaken))
                {
                    int left = (int)(end - DateTime.UtcNow).TotalMilliseconds;
                    if (left <= 0) return false;
                    Monitor.Wait(sync, left);
                }
                return true;
            }
        }

        /// <summary>Sends a message to the connected agent; false (and the connection dropped) on failure.</summary>
        public bool Send(string json)
        {
            NetworkStream s;
            lock (sync)
            {
                if (stream == null || !handshaken) return false;
                s = stream;
            }
            try
            {
                lock (s) Protocol.WriteFrame(s, json);
                return true;
            }
            catch (Exception e)
            {
                log("bridge: agent lost while sending: " + e.Message);
                Drop(s);
                return false;
            }
        }

        // Closes the connection whose stream is `which` (null: whichever is open). The game thread's failed send
        // and the server thread's end of a connection both drop it; by the time a send to a dead agent fails, the
        // server thread may already serve the next agent, which must not be closed in its place.
        void Drop(NetworkStream which)
        {
            lock (sync)
            {
                if (which != null && !ReferenceEquals(which, stream))
                    return;
                if (client != null) { try { client.Close(); } catch (Exception) { } }
                client = null;
                stream = null;
                handshaken = false;
                Monitor.PulseAll(sync);
            }
        }

        void Run()
        {
            while (!stopping)
            {
                TcpClient c;
                try
                {
                    c = listener.AcceptTcpClient();
                }
                catch (Exception)
                {
                    if (stopping) return;
                    Thread.Sleep(100);
                    continue;
                }
                c.NoDelay = true;
                // the game thread sends; an agent that stops reading (the socket buffer full) must not stall the
                // game: a send that cannot complete within 50 ms drops the agent instead
                c.SendTimeout = 50;
                NetworkStream s = c.GetStream();
                lock (sync)
                {
                    client = c;
                    stream = s;
                    handshaken = false;
                    actionTick = -1;
                    press = false;
                    byeReceived = false;
                }
                log("bridge: agent connected");
                try
                {
                    Protocol.WriteFrame(s, helloJson);
                    c.ReceiveTimeout = 10000;
                    var hello = Protocol.ParseMessage(ReadOrThrow(s));
                    if ((string)hello["type"] != "hello")
                        throw new ProtocolException("expected 'hello' first, got '" + hello["type"] + "'");
                    long version = Protocol.RequireLong(hello, "protocol");
                    if (version != Protocol.Version)
                        throw new VersionMismatchException("agent speaks bridge protocol version " + version + ", the game speaks " + Protocol.Version);
                    c.ReceiveTimeout = 0;
                    lock (sync) { handshaken = true; Monitor.PulseAll(sync); }
                    ReadLoop(s);
                }
                catch (VersionMismatchException e)
                {
                    log("bridge: " + e.Message);
                    TrySend(s, Protocol.Error("version", e.Message));
                }
                catch (ProtocolException e)
                {
                    log("bridge: protocol error: " + e.Message);
                    TrySend(s, Protocol.Error("protocol", e.Message));
                }
                catch (Exception e)
                {
                    log("bridge: agent disconnected: " + e.Message);
                }
                Drop(s);
            }
        }

        static string ReadOrThrow(NetworkStream s)
        {
            string text = Protocol.ReadFrame(s);
            if (text == null) throw new IOException("agent closed the connection");
            return text;
        }

        static void TrySend(NetworkStream s, string json)
        {
            try { lock (s) Protocol.WriteFrame(s, json); } catch (Exception) { }
        }

        void ReadLoop(NetworkStream s)
        {
            while (!stopping)
            {
                var msg = Protocol.ParseMessage(ReadOrThrow(s));
                string type = (string)msg["type"];
                if (type == "action")
                {
                    long tick = Protocol.RequireLong(msg, "tick");
                    bool p = Protocol.RequireBool(msg, "press");
                    lock (sync)
                    {
                        if (tick >= actionTick)
                        {
                            actionTick = tick;
                            press = p;
                        }
                        actionsReceived++;
                        Monitor.PulseAll(sync);
                    }
                }
                else if (type == "reset")
                {
                    object seed;
                    msg.TryGetValue("seed", out seed);
                    lock (sync)
                    {
                        resetRequested = true;
                        resetSeed = seed is long ? (long?)(long)seed : null;
                        Monitor.PulseAll(sync);
                    }
                }
                else if (type == "bye")
                {
                    lock (sync) byeReceived = true;
                    return;
                }
                else if (type == "error")
                {
                    object m;
                    msg.TryGetValue("message", out m);
                    log("bridge: agent reported an error: " + m);
                    return;
                }
                // unknown message types are ignored
            }
        }

        public void Dispose()
        {
            stopping = true;
            try { listener.Stop(); } catch (Exception) { }
            Drop(null);
        }
    }
}
