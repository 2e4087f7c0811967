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
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from torch import nn

from agents.hybrid.distribution import HybridDistribution
from agents.hybrid.layout import HybridLayout


def is_frame_stack(space: gym.Space) -> bool:
    """(S, H, W) gray or (S, H, W, C) colour uint8 frame stacks."""
    return isinstance(space, spaces.Box) and len(space.shape) in (3, 4) and space.dtype == np.uint8


def _as_words(obs: th.Tensor) -> th.Tensor:
    """(N, S, ...) -> (N, S, D): each frame's bytes, as 8-byte words where they divide evenly (8x fewer
    comparisons for uint8 frames, 2x for float32)."""
    flat = obs.reshape(*obs.shape[:2], -1)
    if (flat.shape[-1] * flat.element_size()) % 8 == 0:
        return flat.contiguous().view(th.int64)
    return flat


def _equal_frames(a: th.Tensor, b: th.Tensor) -> th.Tensor:
    return (a == b).all(-1)


def shared_frames(obs: th.Tensor) -> tuple[th.Tensor, th.Tensor] | None:
    """Frames that a batch of stacks holds twice: consecutive steps of one game share all frames but the newest.

    ``obs`` (N, S, ...): stack i+1's frame j is the same frame as stack i's frame j+1 when the two are equal (exactly;
    compared, not assumed, so any batch order is correct and a shuffled batch simply shares nothing). Returns
    ``(distinct, inverse)``: flat indices (into the N*S frames) of one copy of each frame, and for every frame the
    position of its copy in ``distinct``; None when no frame repeats."""
    n, s = obs.shape[:2]
    if n < 2 or s < 2:
        return None
    flat = _as_words(obs)
    if not bool(_equal_frames(flat[1:, :-1, ::61], flat[:-1, 1:, ::61]).any()):  # a shuffled batch: a glance
        return None
    same = _equal_frames(flat[1:, :-1], flat[:-1, 1:])
    if not bool(same.any()):
        return None
    idx = th.arange(n * s).reshape(n, s)
    parent = idx.clone()
    parent[1:, :-1] = th.where(same, idx[:-1, 1:], idx[1:, :-1])
    parent = parent.reshape(-1)
    for _ in range((s - 1).bit_length()):  # pointer jumping: a frame's chain of copies is at most S-1 long
        parent = parent[parent]
    root = parent == th.arange(n * s)
    return root.nonzero().squeeze(1), (th.cumsum(root, 0) - 1)[parent]


class FrameStackCNNLSTM(BaseFeaturesExtractor):
    """A small Nature-style CNN on every frame of a (S, H, W) or (S, H, W, C) stack, then an LSTM over the S frames.

    Frames smaller than 36 pixels on a side get two 3x3 convolutions instead (the Nature CNN's 8x8 / stride 4 first
    layer needs 36); which one is decided by the shape alone, so a saved policy rebuilds the same network.

    SB3 scales (S, H, W) uint8 images to [0, 1] itself; (S, H, W, C) stacks are not images to SB3, so this extractor
    divides them by 255.

    ``share_frames`` (default True): the CNN runs once per distinct frame, not once per frame of every stack.
    Consecutive observations of a game share S-1 frames, so a batch of consecutive steps (what
    ``agents.hybrid.ppo.ChunkedRolloutBuffer`` and DAgger's chunked batches draw) costs about a quarter of the CNN
    work (:func:`shared_frames`), forward and backward; and without gradients (acting, evaluating) the CNN codes of
    the last call are reused for the frames a new observation shares with it, while the weights are unchanged. The
    result is the same function of the observation either way.
    """

    REUSE_MAX_BATCH = 256  # acting on more observations at once keeps no copy of them for the next call

    def __init__(self, observation_space: spaces.Box, cnn_dim: int = 128, lstm_hidden: int = 128,
                 share_frames: bool = True):
        super().__init__(observation_space, features_dim=lstm_hidden)
        shape = observation_space.shape
        s, h, w = shape[:3]
        self.channels = shape[3] if len(shape) == 4 else 1
        self.colour = len(shape) == 4
        self.n_frames = s
        self.share_frames = share_frames
        self._last: tuple[th.Tensor, th.Tensor, tuple[int, ...]] | None = None  # (obs, codes, weight versions)
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

    def _frames(self, obs: th.Tensor) -> th.Tensor:
        """(N, S, ...) observations -> (N*S, C, H, W) CNN inputs on [0, 1]: uint8 frames (passed as they are by
        :class:`HybridActorCriticPolicy`) and colour stacks are divided by 255 here; float gray stacks come
        scaled by SB3."""
        if self.colour and self.share_frames:
            # (N*S, C, H, W) as a view of the frames' own (H, W, C) bytes: channels-last, the layout oneDNN's CPU
            # convolutions run fastest on (1.5x forward + backward here); the weights follow on first use
            n, s, h, w, c = obs.shape
            x = obs.reshape(n * s, h, w, c).permute(0, 3, 1, 2)
            if not self.cnn[0].weight.is_contiguous(memory_format=th.channels_last):
                self.cnn.to(memory_format=th.channels_last)
        elif self.colour:
            n, s, h, w, c = obs.shape
            x = obs.permute(0, 1, 4, 2, 3).reshape(n * s, c, h, w)
        else:
            n, s, h, w = obs.shape
            x = obs.reshape(n * s, 1, h, w)
        if x.dtype == th.uint8:
            return x.float() / 255.0
        return x / 255.0 if self.colour else x

    def _code(self, obs: th.Tensor) -> th.Tensor:
        """(N, S, ...) -> (N*S, cnn_dim): the CNN code of every frame, each distinct frame computed once."""
        shared = shared_frames(obs) if self.share_frames else None
        if shared is None:
            return self.proj(self.cnn(self._frames(obs)))
        distinct, inverse = shared
        frames = obs.reshape(-1, *obs.shape[2:])[distinct].unsqueeze(1)
        return self.proj(self.cnn(self._frames(frames)))[inverse]

    def _versions(self) -> tuple[int, ...]:
        # in-place updates (an optimizer step, load_state_dict) bump a tensor's version: the cached codes are stale
        return tuple(p._version for p in (*self.cnn.parameters(), *self.proj.parameters()))

    def _code_reusing_last(self, obs: th.Tensor) -> th.Tensor:
        """Like :meth:`_code` (no gradients), reusing the last call's codes for the frames each stack shares with
        the same row of the last call (a vector of games stepped once: all frames but the newest)."""
        n, s = obs.shape[:2]
        last = self._last
        versions = self._versions()
        if last is None or last[0].shape != obs.shape or last[0].dtype != obs.dtype or last[2] != versions:
            z = self._code(obs).reshape(n, s, -1)
        else:
            prev_obs, prev_z, _ = last
            words = _as_words(obs)
            same = _equal_frames(words[:, :-1], _as_words(prev_obs)[:, 1:])  # (N, S-1)
            z = th.empty(n, s, prev_z.shape[-1], dtype=prev_z.dtype, device=prev_z.device)
            z[:, :-1][same] = prev_z[:, 1:][same]
            todo = th.ones(n, s, dtype=th.bool, device=obs.device)
            todo[:, :-1] = ~same
            z[todo] = self.proj(self.cnn(self._frames(obs[todo].unsqueeze(1))))
        # kept for a vector of envs' next step; a large batch (an offline evaluation) is not worth a copy
        self._last = (obs.clone(), z, versions) if n <= self.REUSE_MAX_BATCH else None
        return z.reshape(n * s, -1)

    def forward(self, obs: th.Tensor) -> th.Tensor:
        n, s = obs.shape[:2]
        if self.share_frames and not th.is_grad_enabled() and s > 1:
            z = self._code_reusing_last(obs)
        else:
            z = self._code(obs)
        _, (h_n, _) = self.lstm(z.reshape(n, s, -1))
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

    def extract_features(self, obs: th.Tensor, features_extractor: BaseFeaturesExtractor | None = None) -> Any:
        if features_extractor is None:
            if not self.share_features_extractor:
                return super().extract_features(obs)
            features_extractor = self.features_extractor
        if obs.dtype == th.uint8 and self.normalize_images and isinstance(features_extractor, FrameStackCNNLSTM):
            # uint8 frames go in as they are: the extractor compares bytes and converts only the distinct frames
            # to float (SB3 would convert every frame of every stack first)
            return features_extractor(obs)
        return BaseModel.extract_features(self, obs, features_extractor)

    def get_distribution(self, obs: th.Tensor) -> HybridDistribution:
        features = self.extract_features(obs, self.pi_features_extractor)
        return self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(features))

    def predict_values(self, obs: th.Tensor) -> th.Tensor:
        features = self.extract_features(obs, self.vf_features_extractor)
        return self.value_net(self.mlp_extractor.forward_critic(features))

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


def policy_kwargs_for(observation_space: gym.Space, layout: HybridLayout, small: bool = False,
                      share_frames: bool = True) -> dict[str, Any]:
    """The policy kwargs every entry point uses (PPO, BC, save/load) for this observation space;
    ``share_frames=False`` makes the CNN run on every frame of every stack (:class:`FrameStackCNNLSTM`)."""
    image = is_frame_stack(observation_space)
    kw: dict[str, Any] = {"layout": layout.to_json(), "q_net_arch": [64]}
    if image:
        kw["features_extractor_class"] = FrameStackCNNLSTM
        kw["features_extractor_kwargs"] = {"cnn_dim": 64, "lstm_hidden": 64} if small else {}
        if not share_frames:
            kw["features_extractor_kwargs"]["share_frames"] = False
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
        # how the CNN is run (share_frames) is not the network: a loaded policy takes the default, the fast way
        "features_extractor_kwargs": {k: v for k, v in policy.features_extractor_kwargs.items() if k != "share_frames"},
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
