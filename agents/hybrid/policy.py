"""The hybrid actor-critic for SB3 2.2.1: CNN per frame -> LSTM across the stack -> policy, value and Q heads.

    (4, 84, 84) uint8 frames
        -> CNN on each frame (shared weights)      -> (4, F)
        -> LSTM across the 4 frames, last hidden    -> features (H)
        -> mlp_extractor  pi branch -> action_net: [type logits | param means | key logits]  (HybridDistribution)
                          vf branch -> value_net: V(s)      (PPO's critic)
                                    -> q_net(vf latent, encode(a)): Q(s, a)   (trained by HybridPPO on TD(lambda)
                                       targets of the rollouts; an auxiliary loss, see the README)

For vector observations (StardewFishing-v0) the same policy runs on SB3's FlattenExtractor (the "MLP variant").
Saving: :func:`save_policy` writes a state_dict and a JSON of the constructor arguments; :func:`load_policy`
rebuilds the module and loads the weights with ``torch.load(weights_only=True)`` (torch 2.13's default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from torch import nn

from agents.hybrid.distribution import HybridDistribution
from agents.hybrid.layout import HybridLayout


def is_frame_stack(space: gym.Space) -> bool:
    """(S, H, W) gray or (S, H, W, C) colour uint8 frame stacks."""
    return isinstance(space, spaces.Box) and len(space.shape) in (3, 4) and space.dtype == np.uint8


class FrameStackCNNLSTM(BaseFeaturesExtractor):
    """A small Nature-style CNN on every frame of a (S, H, W) or (S, H, W, C) stack, then an LSTM over the S frames.

    Frames smaller than 36 pixels on a side get two 3x3 convolutions instead (the Nature CNN's 8x8 / stride 4 first
    layer needs 36); which one is decided by the shape alone, so a saved policy rebuilds the same network.

    SB3 scales (S, H, W) uint8 images to [0, 1] itself; (S, H, W, C) stacks are not images to SB3, so this extractor
    divides them by 255.
    """

    def __init__(self, observation_space: spaces.Box, cnn_dim: int = 128, lstm_hidden: int = 128):
        super().__init__(observation_space, features_dim=lstm_hidden)
        shape = observation_space.shape
        s, h, w = shape[:3]
        self.channels = shape[3] if len(shape) == 4 else 1
        self.colour = len(shape) == 4
        self.n_frames = s
        if min(h, w) >= 36:  # the Nature CNN's kernels need 36 pixels
            self.cnn = nn.Sequential(
                nn.Conv2d(self.channels, 16, 8, stride=4), nn.ReLU(),
                nn.Conv2d(16, 32, 4, stride=2), nn.ReLU(),
                nn.Conv2d(32, 32, 3, stride=1), nn.ReLU(),
                nn.Flatten(),
            )
        else:  # small images (a test env, a board game's grid): 3x3 kernels, the size fixed by the shape alone
            self.cnn = nn.Sequential(
                nn.Conv2d(self.channels, 16, 3, stride=2 if min(h, w) >= 12 else 1), nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=1, padding=1), nn.ReLU(),
                nn.Flatten(),
            )
        with th.no_grad():
            n_flat = self.cnn(th.zeros(1, self.channels, h, w)).shape[1]
        self.proj = nn.Sequential(nn.Linear(n_flat, cnn_dim), nn.ReLU())
        self.lstm = nn.LSTM(cnn_dim, lstm_hidden, batch_first=True)

    def forward(self, obs: th.Tensor) -> th.Tensor:
        if self.colour:
            n, s, h, w, c = obs.shape
            x = obs.permute(0, 1, 4, 2, 3).reshape(n * s, c, h, w) / 255.0
        else:
            n, s, h, w = obs.shape
            x = obs.reshape(n * s, 1, h, w)
        z = self.proj(self.cnn(x)).reshape(n, s, -1)
        _, (h_n, _) = self.lstm(z)
        return h_n[-1]


class HybridActorCriticPolicy(ActorCriticPolicy):
    """ActorCriticPolicy over a :class:`HybridLayout` Box action; extra heads: ``q_net``.

    Extra keyword arguments: ``layout`` (a HybridLayout or its JSON dict), ``q_net_arch`` (hidden sizes of Q).
    Image observations get :class:`FrameStackCNNLSTM` unless another extractor is given.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Box, lr_schedule, *args: Any,
                 layout: HybridLayout | dict | None = None, q_net_arch: list[int] | None = None, **kwargs: Any):
        if layout is None:
            raise ValueError("HybridActorCriticPolicy needs layout= (agents.hybrid.layout.HybridLayout)")
        self.layout = layout if isinstance(layout, HybridLayout) else HybridLayout.from_json(layout)
        if action_space.shape != (self.layout.dim,):
            raise ValueError(f"action space {action_space} does not match the layout (dim {self.layout.dim})")
        self.q_net_arch = list(q_net_arch) if q_net_arch is not None else [64]
        if "features_extractor_class" not in kwargs:
            image = is_frame_stack(observation_space)
            kwargs["features_extractor_class"] = FrameStackCNNLSTM if image else FlattenExtractor
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

    def _build(self, lr_schedule) -> None:
        from functools import partial

        self.action_dist = HybridDistribution(self.layout)
        self._build_mlp_extractor()
        self.action_net, self.log_std = self.action_dist.proba_distribution_net(
            latent_dim=self.mlp_extractor.latent_dim_pi, log_std_init=self.log_std_init)
        latent_vf = self.mlp_extractor.latent_dim_vf
        self.value_net = nn.Linear(latent_vf, 1)
        enc_dim = self.layout.n_types + self.layout.n_cont + self.layout.n_bin
        layers: list[nn.Module] = []
        last = latent_vf + enc_dim
        for width in self.q_net_arch:
            layers += [nn.Linear(last, width), nn.Tanh()]
            last = width
        layers.append(nn.Linear(last, 1))
        self.q_net = nn.Sequential(*layers)
        if self.ortho_init:
            gains = {self.features_extractor: np.sqrt(2), self.mlp_extractor: np.sqrt(2), self.action_net: 0.01,
                     self.value_net: 1.0, self.q_net: 1.0}
            if not self.share_features_extractor:
                del gains[self.features_extractor]
                gains[self.pi_features_extractor] = np.sqrt(2)
                gains[self.vf_features_extractor] = np.sqrt(2)
            for module, gain in gains.items():
                module.apply(partial(self.init_weights, gain=gain))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_action_dist_from_latent(self, latent_pi: th.Tensor) -> HybridDistribution:
        return self.action_dist.proba_distribution(self.action_net(latent_pi), self.log_std)

    def q_values(self, obs: th.Tensor, actions: th.Tensor, detach_features: bool = False) -> th.Tensor:
        """Q(s, a) from the critic's latent and the encoded hybrid action; shape (N,). ``detach_features``: the
        gradient stops at the (shared) features extractor."""
        with th.set_grad_enabled(th.is_grad_enabled() and not detach_features):
            features = self.extract_features(obs, self.vf_features_extractor)
        latent_vf = self.mlp_extractor.forward_critic(features)
        x = th.cat([latent_vf, self.action_dist.encode(actions)], dim=-1)
        return self.q_net(x).flatten()

    def value_only(self, obs: th.Tensor) -> th.Tensor:
        """V(s) with the shared features detached: trains the critic without moving the policy (BC warm start)."""
        with th.no_grad():
            features = self.extract_features(obs, self.vf_features_extractor)
        return self.value_net(self.mlp_extractor.forward_critic(features)).flatten()

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(layout=self.layout.to_json(), q_net_arch=self.q_net_arch)
        return data


# ---- saving and loading without pickle -------------------------------------------------------------------
POLICY_FORMAT = "stardew-rl/hybrid-policy"
POLICY_VERSION = 1
_EXTRACTORS = {"FrameStackCNNLSTM": FrameStackCNNLSTM, "FlattenExtractor": FlattenExtractor}
_ACTIVATIONS = {f.__name__: f for f in (nn.Tanh, nn.ReLU, nn.ELU, nn.LeakyReLU, nn.GELU, nn.SiLU)}
# what else a policy was built with, and its value in files written before it was saved (SB3's defaults)
_BUILD_DEFAULTS = {"activation_fn": "Tanh", "normalize_images": True, "share_features_extractor": True}


def _bound_to_json(bound: np.ndarray) -> Any:
    # one number where every element has it: a frame stack's bounds are 84,672 zeros and as many 255s, which
    # written out made a 2.5 MB policy.json
    flat = bound.reshape(-1)
    return flat[0].item() if flat.size and (flat == flat[0]).all() else bound.tolist()


def _space_to_json(space: spaces.Box) -> dict[str, Any]:
    return {"low": _bound_to_json(space.low), "high": _bound_to_json(space.high), "shape": list(space.shape),
            "dtype": str(space.dtype)}


def _space_from_json(d: dict[str, Any]) -> spaces.Box:
    dtype = np.dtype(d["dtype"])
    shape = tuple(d["shape"])
    low, high = (np.broadcast_to(np.array(d[k], dtype=dtype), shape).copy() if np.ndim(d[k]) == 0
                 else np.array(d[k], dtype=dtype).reshape(shape) for k in ("low", "high"))
    return spaces.Box(low, high, dtype=dtype)


def policy_kwargs_for(observation_space: gym.Space, layout: HybridLayout, small: bool = False) -> dict[str, Any]:
    """The policy kwargs every entry point uses (PPO, BC, save/load) for this observation space."""
    image = is_frame_stack(observation_space)
    kw: dict[str, Any] = {"layout": layout.to_json(), "q_net_arch": [64]}
    if image:
        kw["features_extractor_class"] = FrameStackCNNLSTM
        kw["features_extractor_kwargs"] = {"cnn_dim": 64, "lstm_hidden": 64} if small else {}
        kw["net_arch"] = {"pi": [64], "vf": [64]}
    else:
        kw["net_arch"] = {"pi": [64, 64], "vf": [64, 64]}
    return kw


def save_policy(policy: HybridActorCriticPolicy, path: str | Path, env: dict[str, Any] | None = None) -> Path:
    """Write ``<path>.pt`` (state_dict) and ``<path>.json`` (spaces, layout, architecture and, when given, ``env``:
    the env it was trained on, :meth:`~agents.hybrid.env_source.EnvSource.to_json`). Returns the .pt path."""
    path = Path(path).with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": POLICY_FORMAT, "version": POLICY_VERSION,
        "observation_space": _space_to_json(policy.observation_space),
        "action_space": _space_to_json(policy.action_space),
        "layout": policy.layout.to_json(),
        "q_net_arch": policy.q_net_arch,
        "net_arch": policy.net_arch,
        "features_extractor_class": policy.features_extractor_class.__name__,
        "features_extractor_kwargs": policy.features_extractor_kwargs,
        "log_std_init": policy.log_std_init,
        # these change what the network computes: a reload without them acted differently, silently
        "activation_fn": policy.activation_fn.__name__,
        "normalize_images": policy.normalize_images,
        "share_features_extractor": policy.share_features_extractor,
    }
    env = env if env is not None else getattr(policy, "env_meta", None)
    if env is not None:
        meta["env"] = env
    if meta["activation_fn"] not in _ACTIVATIONS:
        raise ValueError(f"save_policy: activation_fn {policy.activation_fn.__name__} cannot be saved (one of "
                         f"{', '.join(_ACTIVATIONS)})")
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    th.save(policy.state_dict(), path.with_suffix(".pt"))
    return path.with_suffix(".pt")


class PolicyFileError(ValueError):
    """A saved policy that cannot be loaded; the message starts with the file (``.json`` or ``.pt``) at fault."""

    def __init__(self, path: str | Path, message: str):
        self.path = Path(path)
        super().__init__(f"{path}: {message}")


_META_KEYS = ("observation_space", "action_space", "layout", "q_net_arch", "net_arch", "features_extractor_class",
              "features_extractor_kwargs", "log_std_init")


def _first_line(e: BaseException, lines: int = 1) -> str:
    # torch's messages run to dozens of lines (one per mismatched tensor); the first ones say what kind it is
    text = [t.strip() for t in str(e).strip().splitlines() if t.strip()]
    return f"{type(e).__name__}: {' '.join(text[:lines])}"


def read_policy_meta(path: str | Path) -> dict[str, Any]:
    """The checked ``<path>.json`` of a saved policy; :class:`PolicyFileError` names the file and what is wrong."""
    base = Path(path).with_suffix("")
    meta_path = base.with_suffix(".json")
    if not meta_path.is_file():
        hint = ""
        if base.is_dir() and (base / "policy.json").is_file():
            hint = f" ({base} is a run directory: did you mean {base / 'policy'}?)"
        raise PolicyFileError(meta_path, "no such file: a saved policy is <name>.json + <name>.pt, given as "
                                         f"<name> (e.g. runs/hybrid/bc/policy){hint}")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise PolicyFileError(meta_path, f"line {e.lineno}: not JSON ({e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyFileError(meta_path, f"cannot be read: {_first_line(e)}") from None
    if not isinstance(meta, dict) or meta.get("format") != POLICY_FORMAT:
        what = meta.get("format") if isinstance(meta, dict) else f"a JSON {type(meta).__name__}"
        raise PolicyFileError(meta_path, f"not a {POLICY_FORMAT} file (format {what!r})")
    if not isinstance(meta.get("version"), int) or not 0 < meta["version"] <= POLICY_VERSION:
        raise PolicyFileError(meta_path, f"version {meta.get('version')!r}: this code reads versions 1.."
                                         f"{POLICY_VERSION}")
    for key in _META_KEYS:
        if key not in meta:
            raise PolicyFileError(meta_path, f"field {key!r}: missing")
    if meta["features_extractor_class"] not in _EXTRACTORS:
        raise PolicyFileError(meta_path, f"field 'features_extractor_class': unknown extractor "
                                         f"{meta['features_extractor_class']!r} (known: {', '.join(_EXTRACTORS)})")
    meta = {**_BUILD_DEFAULTS, **meta}
    if meta["activation_fn"] not in _ACTIVATIONS:
        raise PolicyFileError(meta_path, f"field 'activation_fn': unknown activation {meta['activation_fn']!r} "
                                         f"(known: {', '.join(_ACTIVATIONS)})")
    for key in ("normalize_images", "share_features_extractor"):
        if not isinstance(meta[key], bool):
            raise PolicyFileError(meta_path, f"field {key!r}: need true or false, got {meta[key]!r}")
    return meta


def load_policy(path: str | Path, device: str = "cpu") -> HybridActorCriticPolicy:
    """Rebuild a :func:`save_policy` policy from ``<path>.json`` and ``<path>.pt`` (``path`` may carry either
    suffix). A missing, truncated or inconsistent file raises :class:`PolicyFileError` naming it."""
    path = Path(path).with_suffix("")
    meta_path, pt_path = path.with_suffix(".json"), path.with_suffix(".pt")
    meta = read_policy_meta(path)
    try:
        policy = HybridActorCriticPolicy(
            _space_from_json(meta["observation_space"]), _space_from_json(meta["action_space"]), lambda _: 0.0,
            layout=meta["layout"], q_net_arch=meta["q_net_arch"], net_arch=meta["net_arch"],
            features_extractor_class=_EXTRACTORS[meta["features_extractor_class"]],
            features_extractor_kwargs=meta["features_extractor_kwargs"], log_std_init=meta["log_std_init"],
            activation_fn=_ACTIVATIONS[meta["activation_fn"]], normalize_images=meta["normalize_images"],
            share_features_extractor=meta["share_features_extractor"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise PolicyFileError(meta_path, f"does not describe a hybrid policy: {_first_line(e)}") from None
    if not pt_path.is_file():
        raise PolicyFileError(pt_path, f"no such file (the weights that go with {meta_path.name})")
    try:
        state = th.load(pt_path, map_location=device, weights_only=True)
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError... for a truncated or foreign file
        raise PolicyFileError(pt_path, f"not a readable torch state_dict (truncated or corrupt?): "
                                       f"{_first_line(e)}") from None
    if not isinstance(state, dict):
        raise PolicyFileError(pt_path, f"not a state_dict (a {type(state).__name__})")
    try:
        policy.load_state_dict(state)
    except RuntimeError as e:
        raise PolicyFileError(pt_path, f"the weights do not fit the policy {meta_path.name} describes: "
                                       f"{_first_line(e, lines=2)}") from None
    policy.set_training_mode(False)
    policy.env_meta = meta.get("env") if isinstance(meta.get("env"), dict) else None
    return policy.to(device)
