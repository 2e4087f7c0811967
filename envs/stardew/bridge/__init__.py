"""The live-game bridge: wire protocol, socket client, reference game server, recording."""
