import numpy as np
import pytest

from agents.dqn.replay import CSVFormatError, NStepCollector, csv_transitions, load_seed_csv

GOOD = """\
456.0,508.0,0.0,455.75,507.2,-0.25,0.302,1
455.75,507.2,-0.25,455.25,506.1,-0.5,0.304,1
455.25,506.1,-0.5,455.0,505.0,-0.25,0.301,0

120.5,300.0,1.5,122.0,298.0,1.5,0.5,0
"""


def test_csv_loader_reads_every_row_of_a_good_file(tmp_path):
    p = tmp_path / "replayMemory.csv"
    p.write_text(GOOD)
    rows = load_seed_csv(p)
    assert rows.shape == (4, 8)
    assert rows[0, 0] == 456.0 and rows[3, 7] == 0.0
    (obs, act, rew, nobs, disc), counts = csv_transitions(rows, gamma=0.99)
    assert counts == {"rows": 4, "used": 2, "dropped": 2, "episode_ends": 0}
    # rows 2 and 3 chain on their predecessors; row 4 starts a new minigame (no known previous progress)
    assert len(act) == 2
    np.testing.assert_allclose(rew, [100 * (0.304 - 0.302), 100 * (0.301 - 0.304)], rtol=1e-5)
    np.testing.assert_array_equal(act, [1, 0])
    np.testing.assert_allclose(obs[0], [455.75, 507.2, -0.25])
    np.testing.assert_allclose(nobs[0], [455.25, 506.1, -0.5])
    assert np.all(disc == np.float32(0.99))


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("1,2,3,4,5,6,0.3", "expected 8 columns"),
        ("1,2,3,4,5,6,0.3,1,9", "expected 8 columns"),
        ("1,2,abc,4,5,6,0.3,1", "not a number"),
        ("1,2,3,4,5,6,0.3,2", "action must be 0 or 1"),
        ("1,2,3,4,5,nan,0.3,1", "non-finite"),
        ("1,2,3,4,5,inf,0.3,1", "non-finite"),
        ("1,2,3,4,5,6,1.7,1", "outside [0, 1]"),
        ("1,2,3,4,5,6,-0.1,1", "outside [0, 1]"),
        (",,,,,,,", "oldBarPos is empty"),  # not skipped as if blank
        ("1,2,3,4,5,6,0.3,", "action is empty"),
        ('1,2,3,4,5,6,0.3,"1\n"', "runs on to line 4"),  # a quoted line break is not a number's whitespace
        ("1,2,3,4,5,6,0.3,\ufeff1", "action is not a number"),
        ("1,2,3,4,5,1_0,0.3,1", "newBarSpeed is not a number: '1_0'"),  # Python's float() reads 10.0
        ("1,2,3,4,5,1e400,0.3,1", "non-finite"),
        ("1,600,3,4,5,6,0.3,1", "oldFishPos 600 is outside the game's range [0, 548]"),
        ("1,2,3,4,5,-70,0.3,1", "newBarSpeed -70 is outside the game's range [-64, 64]"),
    ],
)
def test_csv_loader_names_file_and_line_of_a_bad_row(tmp_path, bad, why):
    lines = GOOD.splitlines()
    lines.insert(2, bad)  # becomes line 3
    p = tmp_path / "log.csv"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(CSVFormatError) as e:
        load_seed_csv(p)
    assert f"{p}:3:" in str(e.value) and why in str(e.value)


def test_csv_rows_that_catch_or_lose_the_fish_end_their_minigame():
    rows = np.array([
        [100, 200, 0, 101, 201, 1, 0.97, 1],
        [101, 201, 1, 102, 202, 1, 1.00, 1],  # caught: terminal, +catch
        [102, 202, 1, 103, 203, 1, 0.30, 0],  # a new minigame that happens to chain: no transition
        [103, 203, 1, 104, 204, 1, 0.02, 0],
        [104, 204, 1, 105, 205, 1, 0.00, 0],  # escaped: terminal, -escape
    ], dtype=np.float64)
    (obs, act, rew, nobs, disc), counts = csv_transitions(rows, 0.9, {"catch": 7.0, "escape": 3.0})
    np.testing.assert_allclose(rew, [100 * 0.03 + 7.0, 100 * -0.28, 100 * -0.02 - 3.0], rtol=1e-5)
    np.testing.assert_allclose(disc, [0.0, 0.9, 0.0])
    np.testing.assert_allclose(obs[:, 0], [101, 103, 104])
    assert counts == {"rows": 5, "used": 3, "dropped": 2, "episode_ends": 2}


def test_csv_rows_chain_only_when_the_whole_state_matches_including_the_bar_speed():
    rows = np.array([
        [100, 200, 0.0, 101, 201, 1.0, 0.30, 1],
        [101, 201, 1.0, 102, 202, 1.5, 0.31, 1],  # chains
        [102, 202, -3.0, 103, 203, -3.0, 0.32, 0],  # same positions, another bar speed: a gap in the log
    ], dtype=np.float64)
    (obs, *_), counts = csv_transitions(rows, 0.9)
    np.testing.assert_allclose(obs, [[101, 201, 1.0]])
    assert counts == {"rows": 3, "used": 1, "dropped": 2, "episode_ends": 0}


def test_n_step_returns_bootstrap_a_truncated_episode_from_its_last_state():
    c = NStepCollector(3, 0.5)
    o = np.zeros((2, 1), dtype=np.float32)
    f = np.array([False, False])
    cut = np.array([False, True])  # game 1 hits the time limit: ended, not terminated
    c.push(o, np.array([0, 1]), np.array([1.0, 1.0]), o + 1, f, f)
    c.push(o + 1, np.array([0, 1]), np.array([1.0, 1.0]), o + 2, f, cut)
    obs, a, g, boot, disc = c.push(o + 2, np.array([0, 1]), np.array([1.0, 100.0]), o + 3, f, f)
    np.testing.assert_allclose(g, [1 + 0.5 + 0.25, 1 + 0.5])
    np.testing.assert_allclose(disc, [0.125, 0.25])  # gamma^2: bootstrap from the state the cut left it in
    np.testing.assert_allclose(boot[:, 0], [3.0, 2.0])


def test_csv_loader_refuses_an_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("\n\n")
    with pytest.raises(CSVFormatError, match="no rows"):
        load_seed_csv(p)


def test_n_step_returns_stop_at_episode_ends():
    c = NStepCollector(3, 0.5)
    o = np.zeros((2, 1), dtype=np.float32)
    f = np.array([False, False])
    assert c.push(o, np.array([0, 1]), np.array([1.0, 1.0]), o + 1, f, f) is None
    assert c.push(o + 1, np.array([0, 1]), np.array([1.0, 1.0]), o + 2, np.array([False, True]),
                  np.array([False, True])) is None
    obs, a, g, boot, disc = c.push(o + 2, np.array([0, 1]), np.array([1.0, 100.0]), o + 3, f, f)
    np.testing.assert_allclose(g, [1 + 0.5 + 0.25, 1 + 0.5])  # game 1 ended after 2 steps
    np.testing.assert_allclose(disc, [0.125, 0.0])  # terminal: no bootstrap
    np.testing.assert_allclose(boot[:, 0], [3.0, 2.0])


def test_csv_loader_counts_file_lines_after_blank_lines_and_line_breaks_in_quotes(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text(GOOD + "\n  \n" + "1,2,3,4,5,6,0.3,2\n")  # GOOD is 5 lines; a blank and a whitespace line
    with pytest.raises(CSVFormatError, match=f"{p}:8: action must be 0 or 1"):
        load_seed_csv(p)


def test_csv_loader_reads_a_file_with_a_byte_order_mark(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    np.testing.assert_array_equal(load_seed_csv(p), load_seed_csv_text(tmp_path, GOOD))


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_csv_loader_names_the_line_byte_and_offset_of_bytes_that_are_not_utf8(tmp_path, bom):
    p = tmp_path / "latin1.csv"
    lines = GOOD.encode().splitlines()
    lines[2] = b"\xe9455.25,506.1,-0.5,455.0,505.0,-0.25,0.301,0"
    p.write_bytes(bom + b"\n".join(lines))
    offset = len(bom) + len(lines[0]) + len(lines[1]) + 2  # where the bad byte sits in the file
    with pytest.raises(CSVFormatError, match=f"{p}:3: not UTF-8 text \\(byte 0xe9 at offset {offset}\\)"):
        load_seed_csv(p)


def load_seed_csv_text(tmp_path, text):
    p = tmp_path / "plain.csv"
    p.write_text(text)
    return load_seed_csv(p)


def test_csv_loader_refuses_a_last_row_whose_quote_never_closes(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text(GOOD + '1,2,3,4,5,6,0.5,"1')
    with pytest.raises(CSVFormatError, match=rf"{p}:\d+: .*end of data"):
        load_seed_csv(p)
