"""datarus_jupyterlab.rewards: TRL reward functions scored by the project's own scorer.

TRL itself is not installed here (it pulls in torch and transformers), so the
functions are called the way GRPOTrainer calls them: keyword arguments prompts,
completions, completion_ids, trainer_state and every other dataset column, the
columns built from a dataset that datasets.load_dataset("json") read.
"""
from __future__ import annotations

import inspect
import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from datasets import load_dataset

from datarus_jupyterlab import rewards
from datarus_jupyterlab.cli import plain_command

STEP = (
    "<step>\n<thought>Mean of the price column.</thought>\n<action>python_executor</action>\n"
    '<action_input>\nimport pandas as pd\nprint(pd.read_csv("sales.csv").price.mean())\n</action_input>\n</step>'
)
ANSWER = "<stop_analysis>\n<thought>It printed 11.71.</thought>\n<answer>The mean price is @mean_price[11.71].</answer>\n</stop_analysis>"
GOOD = f"{STEP}\n{ANSWER}"
WRONG = GOOD.replace("@mean_price[11.71]", "@mean_price[12]")
SLOPPY = "Sure! Here is the code:\n```python\nprint(1)\n```"
FABRICATED = f"{STEP}\n<observation>11.71</observation>\n{ANSWER}"


def cli_score(text: str) -> float:
    """`datarus score` on a transcript, as a user runs it."""
    argv, env = plain_command(["score"])
    out = subprocess.run(argv, input=text, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out)["score"]


def trl_call(func, prompts, completions, rows, trainer_state=None):
    """What GRPOTrainer does: every column but prompt and completion, as lists, beside prompts and completions."""
    keys = [k for k in rows[0] if k not in ("prompt", "completion")]
    reward_kwargs = {k: [row[k] for row in rows] for k in keys}
    ids = [[1, 2, 3]] * len(completions)
    return func(prompts=prompts, completions=completions, completion_ids=ids, trainer_state=trainer_state, **reward_kwargs)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two tasks as `datarus rollouts --labels` writes them: labels of different names, a row without any."""
    path = Path(tmp_path_factory.mktemp("rollouts")) / "rollouts.jsonl"
    rows = [
        {"prompt": [{"role": "user", "content": "Mean price?"}], "group_id": "task-1", "label_answers": {"mean_price": "11.71"}},
        {"prompt": [{"role": "user", "content": "Units?"}], "group_id": "task-2", "label_answers": {"north_units": "12", "row_count": "12"}},
        {"prompt": [{"role": "user", "content": "Anything?"}], "group_id": "task-3", "label_answers": None},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_dataset("json", data_files=str(path), split="train")


def test_structural_reward_is_the_cli_score():
    texts = [GOOD, SLOPPY, FABRICATED, STEP]
    assert rewards.structural_reward(completions=texts) == [cli_score(t) for t in texts]
    assert rewards.structural_reward(completions=[GOOD])[0] == 1
    assert rewards.structural_reward(completions=[SLOPPY])[0] == 0
    # A completion that writes its own observation is penalised, as in `datarus score`.
    assert rewards.structural_reward(completions=[FABRICATED])[0] < 1


def test_conversational_completions_are_read_from_their_assistant_turns():
    conversational = [[{"role": "assistant", "content": GOOD}], [{"role": "assistant", "content": [{"type": "text", "text": SLOPPY}]}]]
    assert rewards.structural_reward(completions=conversational) == rewards.structural_reward(completions=[GOOD, SLOPPY])


def test_functions_take_trl_keyword_arguments(dataset):
    rows = [dataset[0], dataset[0], dataset[1], dataset[2]]
    prompts = [r["prompt"] for r in rows]
    completions = [[{"role": "assistant", "content": t}] for t in (GOOD, WRONG, GOOD, GOOD)]
    state = SimpleNamespace(global_step=0, max_steps=100)
    assert trl_call(rewards.structural_reward, prompts, completions, rows, state) == [1, 1, 1, 1]
    # Task 1: right, then wrong; task 2: neither of its two names; task 3 has no label: absent, not zero.
    assert trl_call(rewards.answer_reward, prompts, completions, rows, state) == [1, 0, 0, None]
    for func in (rewards.structural_reward, rewards.answer_reward, rewards.curriculum_reward()):
        params = inspect.signature(func).parameters
        assert "completions" in params
        assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def test_curriculum_moves_from_structure_to_the_answer(dataset):
    rows = [dataset[0], dataset[0]]
    prompts = [r["prompt"] for r in rows]
    completions = [WRONG, SLOPPY.replace("print(1)", "@mean_price[11.71]")]
    reward = rewards.curriculum_reward(w0=0.0, w1=1.0)
    assert reward.__name__ == "curriculum_reward"
    start = trl_call(reward, prompts, completions, rows, SimpleNamespace(global_step=0, max_steps=10))
    end = trl_call(reward, prompts, completions, rows, SimpleNamespace(global_step=10, max_steps=10))
    middle = trl_call(reward, prompts, completions, rows, SimpleNamespace(global_step=5, max_steps=10))
    # At the start only structure counts: the well-formed wrong answer wins; at the end only the answer.
    assert start == [1, 0]
    assert end == [0, 0]  # the sloppy text's "answer" is outside any <answer>: no answer at all
    assert middle == [0.5, 0]
    no_labels = trl_call(reward, [dataset[2]["prompt"]], [GOOD], [dataset[2]], SimpleNamespace(global_step=5, max_steps=10))
    assert no_labels == [None]


def test_curriculum_without_trainer_state_needs_the_step():
    reward = rewards.curriculum_reward(w0=0.0, w1=1.0)
    with pytest.raises(ValueError, match="needs the training progress"):
        reward(completions=[GOOD], label_answers=[{"mean_price": "11.71"}])
    counted = rewards.curriculum_reward(w0=0.0, w1=1.0, total_steps=4)
    counted.set_step(4)
    assert counted(completions=[WRONG], label_answers=[{"mean_price": "11.71"}]) == [0]


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="a completion must be a string or a list of messages"):
        rewards.structural_reward(completions=[42])
    with pytest.raises(ValueError, match="2 completions but 1 label_answers"):
        rewards.answer_reward(completions=[GOOD, GOOD], label_answers=[None])
    with pytest.raises(rewards.ScorerError, match="must be a string or a number"):
        rewards.answer_reward(completions=[GOOD], label_answers=[{"mean_price": [1]}])
    # The scorer is still there for the next call.
    assert rewards.structural_reward(completions=[GOOD]) == [1]
