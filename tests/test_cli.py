"""The command line as users meet it: help, listings, fast start-up and one-line errors."""


import pytest

from conftest import assert_one_line_error, run_cli, run_without_heavy_imports


@pytest.mark.parametrize("command", [[], ["run"], ["eval"], ["tasks"], ["models"]])
def test_every_command_has_help(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0 and "usage: csr-bench" in result.stdout


def test_help_lists_the_commands():
    out = run_cli("--help").stdout
    for command in ("run", "eval", "tasks", "models"):
        assert f"    {command} " in out


def test_listings_describe_each_entry():
    lines = run_cli("tasks", check=True).stdout.splitlines()
    listed = {line.split()[0]: line.split(maxsplit=1)[1] for line in lines}
    for name in ("pope", "mme", "seed", "mmbench", "scienceqa", "vizwiz", "vizwiz_test", "gqa"):
        assert listed[name]  # every task has a one-line description
    assert listed["pope"].startswith("Object hallucination")
    models = run_cli("models", check=True).stdout.splitlines()
    names = [line.split()[0] for line in models]
    assert names == ["tiny-llava", "world", "llava15", "llava15-13b", "DIR"]
    assert all(len(line.split(maxsplit=1)) == 2 for line in models)


@pytest.mark.parametrize("command", [["tasks"], ["models"], ["--help"], ["eval", "--help"], ["run", "--help"],
                                     ["run", "--method", "dpo", "--help"], ["run", "--method", "povid", "--help"]])
def test_commands_without_a_model_do_not_import_torch(command):
    run_without_heavy_imports(f"from csr_bench.cli import main\n"
                              f"try:\n    main({command!r})\nexcept SystemExit:\n    pass\n")


def test_unknown_task_and_model_are_one_line_errors(tmp_path):
    assert_one_line_error(run_cli("eval", "--model", "tiny-llava", "--tasks", "pope,nosuch", "--output", str(tmp_path)),
                          "unknown task(s): nosuch")
    assert_one_line_error(run_cli("eval", "--model", "gpt-17", "--tasks", "pope", "--output", str(tmp_path)),
                          "unknown model 'gpt-17'", "tiny-llava")
    assert_one_line_error(run_cli("eval", "--model", "./no/such/dir", "--tasks", "pope"), "no such folder")
    assert not (tmp_path / "gpt-17").exists()


def test_missing_data_and_malformed_yaml_are_one_line_errors(tmp_path):
    assert_one_line_error(run_cli("eval", "--model", "tiny-llava", "--tasks", "pope", "--data-root", str(tmp_path)),
                          "pope: no data at")
    (tmp_path / "broken.yaml").write_text("task: x\ndescription: a: b\n")
    assert_one_line_error(run_cli("tasks", "--include-tasks", str(tmp_path)), "broken.yaml:2: malformed YAML")


def test_real_model_without_network_is_a_one_line_error(tmp_path):
    result = run_cli("eval", "--model", "llava15", "--tasks", "pope", "--data-root", "bundled",
                     "--output", str(tmp_path))
    assert_one_line_error(result, "cannot load model llava-hf/llava-1.5-7b-hf")


def test_bad_flag_values_are_rejected_by_the_parser():
    result = run_cli("eval", "--model", "tiny-llava", "--tasks", "pope", "--batch-size", "0")
    assert result.returncode == 2 and "must be at least 1" in result.stderr and "Traceback" not in result.stderr


def test_score_does_not_import_torch(tmp_path, pope_rows):
    import json

    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps({**r, "prediction": "Yes."}) + "\n" for r in pope_rows[:6]))
    result = run_without_heavy_imports(
        f"from csr_bench.cli import main\nassert main(['score', 'pope', {str(predictions)!r}, '--json']) == 0\n")
    assert '"task": "pope", "n": 6' in result.stdout


def test_csr_flags_reach_the_method_config():
    from csr_bench.cli.model_commands import method_config_from_args
    from csr_bench.cli.parser import build_parser

    args = build_parser().parse_args(["run", "--iterations", "1", "--lora-targets", "q_proj,v_proj", "--num-beams", "3",
                                      "--lambda", "0", "--calibration", "paper", "--dpo-batch-size", "2",
                                      "--batch-size", "4", "--prompts", "7", "--beta", "0.2",
                                      "--prompts-per-batch", "4", "--search-batch-tokens", "1000", "--save-steps", "5"])
    config = method_config_from_args(args)
    assert (config.prompts_per_batch, config.search.batch_tokens, config.training.save_steps) == (4, 1000, 5)
    assert config.training.lora_targets == ["q_proj", "v_proj"] and config.training.batch_size == 2
    assert config.training.beta == 0.2 and config.lam == 0.0 and config.calibration == "paper"
    assert (config.search.num_beams, config.search.num_beam_groups) == (3, 3) and config.prompts == 7
    defaults = method_config_from_args(build_parser().parse_args(["run", "--model", "llava15"]))
    assert (defaults.training.learning_rate, defaults.training.lora_r, defaults.lam) == (1e-7, 128, 0.9)
    assert (defaults.search.num_beams, defaults.search.diversity_penalty) == (5, 3.0)
    assert defaults.prompts is None and defaults.training.gradient_checkpointing
    assert (defaults.prompts_per_batch, defaults.search.batch_tokens) == (8, 65536)


def test_dpo_trains_with_the_runs_seed_unless_dpo_seed_is_given():
    """--seed has always seeded DPO too (the world's published numbers are seed 0's); --dpo-seed wins."""
    from csr_bench.cli.model_commands import method_config_from_args
    from csr_bench.cli.parser import build_parser

    def seed(*argv):
        return method_config_from_args(build_parser(["run", *argv]).parse_args(["run", *argv])).training.seed

    assert (seed(), seed("--seed", "5"), seed("--seed", "5", "--dpo-seed", "7")) == (0, 5, 7)


def test_the_world_runs_with_its_own_csr_defaults_and_flags_still_win():
    from csr_bench.cli.model_commands import method_config_from_args
    from csr_bench.cli.parser import build_parser
    from csr_bench.models.registry import WORLD_CSR_PRESETS

    world = method_config_from_args(build_parser().parse_args(["run"]))
    assert world.prompts == WORLD_CSR_PRESETS["prompts"] and world.prompts_per_batch == 16
    assert world.training.learning_rate == WORLD_CSR_PRESETS["training"]["learning_rate"]
    assert (world.lam, world.search.num_beams, world.training.beta) == (0.9, 5, 0.1)  # the reference's
    flagged = method_config_from_args(build_parser().parse_args(["run", "--learning-rate", "1e-5", "--prompts", "3"]))
    assert (flagged.training.learning_rate, flagged.prompts) == (1e-5, 3)
    assert flagged.training.lora_r == WORLD_CSR_PRESETS["training"]["lora_r"]


def test_a_full_disk_anywhere_is_one_line_naming_the_file(monkeypatch, capsys):
    """A write that fails outside csr_bench.storage.files (a trainer checkpoint, a plot) still ends as one line."""
    import errno

    from csr_bench import cli

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/trainer/checkpoint-3/optimizer.pt")

    monkeypatch.setitem(cli.COMMANDS, "tasks", full)
    assert cli.main(["tasks"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "cannot write /runs/x/trainer/checkpoint-3/optimizer.pt: no space left on device" in err

    def bug(args):
        raise FileNotFoundError(errno.ENOENT, "No such file", "/nowhere")

    monkeypatch.setitem(cli.COMMANDS, "tasks", bug)
    with pytest.raises(FileNotFoundError):  # not a disk failure: a bug keeps its traceback
        cli.main(["tasks"])


def test_a_closed_pipe_ends_the_command_quietly():
    """`csr-bench tasks | head -1`: the reader is gone before the listing ends; no traceback, exit 1."""
    import subprocess
    import sys

    code = ("import os, sys\n"
            "read, write = os.pipe(); os.close(read); os.dup2(write, 1)\n"
            "from csr_bench.cli import main\n"
            "sys.exit(main(['tasks']))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
