"""The hybrid action space and what each action sends (no display: dry-run input)."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from envs.screen.actions import HybridActionSpec
from envs.screen.capture import Region
from envs.screen.inputs import DryRunInput, InputController

SEED_DICT = {"keys": ["w", "a", "s", "d", "space"],
             "mouse": {"min_pos": [0, 0], "max_pos": [640, 480], "actions": ["click", "drag"]}}
REGION = Region(100, 50, 640, 480)


def make(spec_dict=SEED_DICT, **kw):
    spec = HybridActionSpec.from_seed_dict(spec_dict, **kw)
    b = DryRunInput()
    return spec, b, InputController(spec, b, drag_steps=4)


def test_seed_dict_builds_the_documented_dict_space():
    spec = HybridActionSpec.from_seed_dict(SEED_DICT)
    assert spec.type_names == ("none", "click", "drag", "key")
    assert isinstance(spec.space, spaces.Dict)
    assert spec.space["type"] == spaces.Discrete(4)
    assert spec.space["pointer"] == spaces.Box(-1, 1, (2,), np.float32)
    assert spec.space["drag_end"] == spaces.Box(-1, 1, (2,), np.float32)
    assert spec.space["keys"] == spaces.MultiBinary(5)
    assert spec.params_used == {"none": (), "click": ("pointer",), "drag": ("pointer", "drag_end"),
                                "key": ("keys",)}


def test_move_and_hold_types_are_opt_in_and_keep_a_fixed_order():
    spec = HybridActionSpec.from_seed_dict(SEED_DICT, move=True, hold=True)
    assert spec.type_names == ("none", "move", "click", "drag", "hold", "key")
    assert HybridActionSpec.from_seed_dict({"keys": ["c"]}).type_names == ("none", "key")


def test_bad_seed_dicts_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="unknown"):
        HybridActionSpec.from_seed_dict({"keys": ["a"], "mouse": {"actions": ["wiggle"]}})
    with pytest.raises(ValueError, match="duplicates"):
        HybridActionSpec.from_seed_dict({"keys": ["a", "a"]})


def test_unknown_entries_in_the_action_space_dict_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"action_space\['mouse'\]: unknown entries \['action'\]"):
        HybridActionSpec.from_seed_dict({"mouse": {"action": ["click"]}})
    with pytest.raises(ValueError, match=r"action_space\['keys'\]: need a list of key names, got the string"):
        HybridActionSpec.from_seed_dict({"keys": "wasd"})
    with pytest.raises(ValueError, match=r"action_space\['mouse'\]\['actions'\]: need a list"):
        HybridActionSpec.from_seed_dict({"mouse": {"actions": "click"}})


def test_unknown_key_names_are_refused_when_the_spec_is_built():
    with pytest.raises(ValueError, match=r"keys\[4\]: unknown key name 'uparrow'; use a single character or a "
                                         r"pynput Key name \(.*page_up"):
        HybridActionSpec.from_seed_dict({"keys": ["w", "a", "s", "d", "uparrow"]})
    spec = HybridActionSpec(keys=("Up", "escape", "f12", "page_down", "ctrl_l", "1"))  # case, aliases
    assert spec.keys == ("Up", "escape", "f12", "page_down", "ctrl_l", "1")


def test_pointer_corners_map_to_the_region_corners_and_back():
    spec = HybridActionSpec.from_seed_dict(SEED_DICT)
    assert spec.to_pixels([-1, -1], (640, 480)) == (0, 0)
    assert spec.to_pixels([1, 1], (640, 480)) == (639, 479)
    assert spec.to_pixels([5, -5], (640, 480)) == (639, 0)  # clipped
    for xy in [(0, 0), (320, 240), (639, 479), (17, 400)]:
        assert spec.to_pixels(spec.to_pointer(xy, (640, 480)), (640, 480)) == xy


def test_a_key_held_on_consecutive_key_steps_is_pressed_once():
    spec, b, ctl = make()
    for _ in range(3):
        ctl.apply(spec.make("key", keys=["w"]), REGION)
    assert b.events == [("key", "w", True)]
    ctl.apply(spec.make("key", keys=["w", "space"]), REGION)
    ctl.apply(spec.make("key", keys=["space"]), REGION)
    assert b.events[1:] == [("key", "space", True), ("key", "w", False)]


def test_any_other_type_releases_held_keys_first():
    spec, b, ctl = make()
    ctl.apply(spec.make("key", keys=["a", "d"]), REGION)
    b.events.clear()
    ctl.apply(spec.make("click", pointer=[-1, -1]), REGION)
    assert b.events == [("key", "d", False), ("key", "a", False), ("move", 100, 50),
                        ("button", "left", True), ("button", "left", False)]
    assert ctl.held_keys == []


def test_key_combination_presses_in_list_order():
    spec, b, ctl = make({"keys": ["ctrl", "c"]})
    ctl.apply(spec.make("key", keys=[1, 1]), REGION)
    assert b.events == [("key", "ctrl", True), ("key", "c", True)]
    ctl.apply(spec.noop(), REGION)
    assert b.events[2:] == [("key", "c", False), ("key", "ctrl", False)]


def test_types_ignore_parameters_they_do_not_use():
    spec, b, ctl = make()
    a = spec.make("click", pointer=[0, 0], drag_end=[1, 1], keys=[1, 1, 1, 1, 1])
    ctl.apply(a, REGION)
    assert [e for e in b.events if e[0] == "key"] == []
    b.events.clear()
    ctl.apply(spec.make("key", pointer=[1, 1], keys=["s"]), REGION)
    assert b.events == [("key", "s", True)]


def test_drag_presses_at_pointer_moves_and_releases_at_drag_end():
    spec, b, ctl = make()
    ctl.apply(spec.make("drag", pointer=[-1, -1], drag_end=[1, 1]), REGION)
    assert b.events[0] == ("move", 100, 50)
    assert b.events[1] == ("button", "left", True)
    assert b.events[-2] == ("move", 100 + 639, 50 + 479)
    assert b.events[-1] == ("button", "left", False)
    assert len([e for e in b.events if e[0] == "move"]) == 1 + 4


def test_hold_keeps_the_button_down_until_another_type():
    spec, b, ctl = make(hold=True)
    ctl.apply(spec.make("hold", pointer=[0, 0]), REGION)
    ctl.apply(spec.make("hold", pointer=[0.5, 0]), REGION)
    assert [e for e in b.events if e[0] == "button"] == [("button", "left", True)]
    ctl.apply(spec.noop(), REGION)
    assert b.events[-1] == ("button", "left", False)


def test_release_all_releases_everything_once():
    spec, b, ctl = make(hold=True)
    ctl.apply(spec.make("key", keys=["w", "a"]), REGION)
    ctl.release_all()
    ctl.release_all()
    assert b.events == [("key", "w", True), ("key", "a", True), ("key", "a", False), ("key", "w", False)]
    assert not ctl.holding


def test_a_disabled_controller_sends_nothing():
    spec, b, ctl = make()
    ctl.enabled = False
    ctl.apply(spec.make("key", keys=["w"]), REGION)
    assert b.events == []
